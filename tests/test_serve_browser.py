"""The search page in a real browser: Debian's Chromium, driven by Playwright (which never downloads a
browser of its own). The tests type queries, read the cards, open related reading, click the map,
check that no data can become markup, and take the README's screenshots: into the folder
$REFSEARCH_SCREENSHOTS names (`make screenshots`: docs/img/), else a temporary one, so a test run
leaves the work tree as it was (Chromium's text rendering varies by a few pixels between runs).

They skip with the reason when Chromium or Playwright is missing; .ci/run installs both."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import refsearch
from serving import make_project, running_server
from flat import flat_library, write_jsonl

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MIG = "NVIDIA - Multi-Instance GPU (MIG)"

if not Path(CHROMIUM).exists():
    pytest.skip("needs Chromium: apt-get install chromium fonts-noto-cjk", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright: pip install playwright")
pytest.importorskip("starlette", reason="needs the serve extra: pip install 'refsearch[serve]'")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, device_scale_factor=1)
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    page.on("console", lambda message: message.type == "error" and page.problems.append(message.text))
    page.on("dialog", lambda dialog: page.problems.append(f"dialog: {dialog.message}") or dialog.dismiss())
    yield page
    context.close()


@pytest.fixture(scope="module")
def bundled_url(bundled_index):
    with running_server(bundled_index.directory) as url:
        yield url


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    return Path(os.environ.get("REFSEARCH_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))


def screenshot(page, folder: Path, name: str) -> None:
    """Taken once the fonts have loaded."""
    page.evaluate("document.fonts.ready.then(() => new Promise(requestAnimationFrame))")
    page.screenshot(path=folder / name)
    assert (folder / name).stat().st_size > 10_000


def cards(page) -> list[str]:
    return page.locator("#results .card h3").all_inner_texts()


def map_point(page, ref_id: str) -> dict:
    """Where the map draws `ref_id`, in the canvas's own pixels."""
    return page.evaluate("""(id) => {
        const row = state.map.index.get(id), side = document.getElementById('map').clientWidth;
        const [x, y] = position(row, side);
        return {x, y};
    }""", ref_id)


def test_type_a_query_read_the_cards_open_related_reading(page, bundled_url, screenshots, capsys):
    page.goto(bundled_url)
    page.wait_for_selector("#map-note:not(:empty)")
    page.locator("#q").press_sequentially("GPU slicing", delay=40)
    page.wait_for_selector("#results .card")
    assert cards(page)[0] == f"1.{MIG}"
    first = page.locator("#results .card").first
    assert first.locator(".facts").inner_text() == "official-doc · NVIDIA"
    assert first.locator(".crumb").inner_text() == "参考资料 · ML 平台 / MLOps › 训练编排 + GPU (Training orchestration + GPU)"
    assert first.locator(".gloss").inner_text() == "GPU slicing and scheduling."
    assert first.locator("h3 a").count() == 0  # no url in the list: the title is plain text
    assert page.locator("#results .card h3 a").first.get_attribute("href").startswith("https://")
    assert page.url.endswith("/?q=GPU+slicing")
    timings = page.evaluate("window.refsearchTimings")
    # debounced: one search once typing pauses (a stall of the loaded machine may add one), not one per key
    assert timings[-1]["query"] == "GPU slicing" and len(timings) < len("GPU slicing") // 2
    with capsys.disabled():
        print(f"\npage: debounce to results on screen {timings[-1]['ms']:.0f} ms (goal <= 100 ms)")
    first.get_by_role("button", name="Related reading").click()
    related = first.locator(".related li")
    related.first.wait_for()
    assert related.count() == 5 and "similar (" in related.first.locator(".reasons").inner_text()
    screenshot(page, screenshots, "search.png")
    related.first.get_by_role("button").click()
    page.wait_for_selector("#selected .card")
    assert page.locator("#selected .card h3").inner_text() == related.first.get_by_role("button").inner_text()
    assert page.problems == []


def test_click_the_map_and_step_through_it_from_the_keyboard(page, bundled_url, screenshots):
    page.goto(bundled_url + "/?q=feature%20store")
    page.wait_for_selector("#results .card")
    page.wait_for_selector("#map-note:not(:empty)")
    assert page.input_value("#q") == "feature store"  # a bookmarked search opens as it was
    target = page.locator("#results .card").nth(1)
    point = map_point(page, target.get_attribute("data-id"))
    page.locator("#map").hover(position=point)
    assert page.locator("#tooltip").is_visible()
    page.locator("#map").click(position=point)
    page.wait_for_selector("#selected .card")
    assert page.locator("#selected .card").get_attribute("data-id") == target.get_attribute("data-id")
    screenshot(page, screenshots, "map.png")
    page.locator("#map").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    first = page.locator("#results .card").first.get_attribute("data-id")
    page.wait_for_function("(id) => document.querySelector('#selected .card').dataset.id === id", arg=first)
    assert page.problems == []


def test_filters_chinese_and_a_narrow_window(page, bundled_url, screenshots):
    page.set_viewport_size({"width": 400, "height": 860})
    page.goto(bundled_url + "/?q=%E7%89%B9%E5%BE%81%E5%AD%98%E5%82%A8")  # 特征存储
    page.wait_for_selector("#results .card")
    assert any("Feast" in title or "Feature Store" in title for title in cards(page)[:3])
    assert page.evaluate("document.documentElement.scrollWidth") <= 400  # nothing wider than the window
    screenshot(page, screenshots, "narrow.png")
    page.select_option("#kind", "paper")
    page.fill("#year", "2015")
    page.wait_for_function("() => document.querySelectorAll('#results .card').length === 1")
    assert "Hidden Technical Debt" in cards(page)[0] and "kind=paper&year=2015" in page.url
    page.fill("#year", "2016-2015")
    page.wait_for_selector("#status.error")
    assert "the range is empty" in page.inner_text("#status")
    assert [problem for problem in page.problems if "status of 400" not in problem] == []  # the 400 was expected


EVIL = """format: refsearch/references@1
page: Evil <i>page</i>
key: evil
topics:
  - name: "<b id=topic onmouseover=\\"window.pwned='topic'\\">Tricks</b>"
    references:
      - title: "<img src=x onerror=\\"window.pwned='img'\\"> Image trick"
        url: "javascript:window.pwned='url'"
        year: 2021
        kind: "<svg onload=window.pwned='kind'>"
        note: "</script><script>window.pwned='note'</script> \\e[2J escape \\u202e reversed"
        note_en: "<a href=javascript:window.pwned='gloss'>gloss</a>"
      - title: "<script>window.pwned='title'</script> Script trick"
        url: "https://example.org/\\"><img src=x onerror=window.pwned='attr'>"
        note: plain neighbour about tricks
      - title: Abstract trick
        abstract: "<img src=x onerror=\\"window.pwned='abstract'\\"> a paper's abstract about tricks, no note"
"""


def test_titles_and_notes_can_never_become_markup(page, tmp_path, fake_encoder):
    with running_server(make_project(tmp_path, EVIL)) as url:
        page.goto(url + "/?q=trick")
        page.wait_for_selector("#results .card")
        page.wait_for_selector("#map-note:not(:empty)")
        for card in page.locator("#results .card").all():
            card.get_by_role("button", name="Related reading").click()
        page.wait_for_selector("#results .related li")
        image_trick = page.locator(".card[data-id^='evil/img']")
        point = map_point(page, image_trick.get_attribute("data-id"))
        page.locator("#map").hover(position=point)
        page.locator("#map").click(position=point)
        page.wait_for_selector("#selected .card")
        page.goto(url + "/api/docs")
        page.go_back()
        page.wait_for_selector("#results .card")
        assert page.evaluate("window.pwned") is None and page.problems == []
        assert page.locator("main img, main script, main svg, main b, main i, header i").count() == 0
        title = image_trick.first.locator("h3").inner_text()
        assert title.endswith("""<img src=x onerror="window.pwned='img'"> Image trick""")
        assert image_trick.first.locator("h3 a").count() == 0  # a javascript: url is not made a link
        assert page.locator("a[href^='javascript']").count() == 0
        assert page.locator(".card[data-id^='evil/abstract'] .snippet").first.inner_text().startswith("<img src=x")
        note = image_trick.first.locator(".note").inner_text()
        assert "\x1b" not in note and "\u202e" not in note and "<script>" in note
        link = page.locator(".card[data-id^='evil/script'] h3 a").first.get_attribute("href")
        assert link.startswith("https://example.org/%22%3E%3Cimg")  # the quote cannot end the attribute


def test_a_flat_library_shows_its_derived_topics_and_weak_matches_behind_a_button(page, tmp_path, fake_encoder):
    (tmp_path / "refs").mkdir()
    write_jsonl(tmp_path / "refs" / "lib.jsonl", flat_library())
    refsearch.build([tmp_path / "refs"], tmp_path / "idx")
    labels = [topic.path[0] for topic in refsearch.open(tmp_path / "idx").topics()]
    with running_server(tmp_path / "idx") as url:
        page.goto(url + "/?q=study%207")
        page.wait_for_selector("#results .card")
        page.wait_for_selector("#map-note:not(:empty)")
        legend = page.locator("#legend").inner_text()
        assert all(label in legend for label in labels), (labels, legend)  # named by their labels
        assert page.evaluate("state.map.groups.length") == len(labels)  # one colour per derived topic
        assert page.locator("#results .card .crumb").first.inner_text().endswith("· derived topic")
        strong = page.locator("#results .card").count()
        button = page.locator(".weak-note button")
        assert button.inner_text().startswith("Show ") and page.locator("#results .card.weak").count() == 0
        button.click()
        page.wait_for_selector("#results .card.weak")
        assert page.locator("#results .card").count() > strong and page.locator(".weak-note").count() == 0
        assert "weak match" in page.locator("#results .card.weak .weak-label").first.inner_text()
        assert page.problems == []


def test_the_api_docs_show_code_as_code_not_backticks(page, tmp_path, fake_encoder):
    with running_server(make_project(tmp_path)) as url:
        page.goto(url + "/api/docs")
        page.wait_for_selector("#endpoints section")
        assert "`" not in page.locator("#endpoints").inner_text()
        assert "refsearch search --json" in page.locator("#endpoints code").all_inner_texts()
        assert page.problems == []
