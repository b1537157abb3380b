"""`refsearch serve`'s JSON API: the CLI's --json fields, the CLI's limits and one-line errors (never
a traceback), a new generation picked up without a restart and never a half-written one, loopback
by default, and the cold CLI path free of the server's imports."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import refsearch
from refsearch import atomic, store
from refsearch.cli import app
from serving import FAKE_CLI, FIVE, PAGE, READING, exported_refs, make_project, subprocess_env

pytest.importorskip("starlette", reason="needs the serve extra: pip install 'refsearch[serve]'")
from starlette.testclient import TestClient  # noqa: E402

from refsearch.serve import http  # noqa: E402
from refsearch.serve.live import LiveIndex  # noqa: E402

runner = CliRunner()
LOOPBACK = "http://127.0.0.1"


@pytest.fixture
def index(tmp_path, fake_encoder):
    return make_project(tmp_path)


@pytest.fixture
def served(index):
    said: list[str] = []
    live = LiveIndex(index, said.append)
    client = TestClient(http.create_app(live, said.append), base_url=LOOPBACK, raise_server_exceptions=False)
    client.said, client.live = said, live
    return client


def cli_json(*args) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_answers_have_the_cli_fields(served, index):
    where = ("--index", str(index))
    same = {
        "/api/search?query=GPU%20slicing&k=2": ("search", "GPU slicing", "-k", "2"),
        "/api/search?query=server&kind=official-doc&year=2018-2019&topic=serv&page=infra&mode=lexical":
            ("search", "server", "--kind", "official-doc", "--year", "2018-2019", "--topic", "serv", "--page",
             "infra", "--mode", "lexical"),
        "/api/related?ref=mig&k=2&diverse=true": ("related", "mig", "-k", "2", "--diverse"),
        "/api/show/infra/mig": ("show", "infra/mig"),
        "/api/topics": ("topics",),
        "/api/status": ("status",),
    }
    for url, command in same.items():
        response = served.get(url)
        assert response.status_code == 200, (url, response.text)
        assert response.json() == cli_json(*command, *where), url
    assert served.get("/api/search?query=GPU%20slicing&k=2").json()["results"][0]["id"] == "infra/mig"


def test_a_long_query_is_posted(served):
    paragraph = "We partition each A100 into isolated GPU slices for small inference jobs. " * 300
    response = served.post("/api/search", json={"query": paragraph, "k": 1, "year": "2020"})
    assert response.status_code == 200 and response.json()["results"][0]["title"] == "MIG"


@pytest.mark.parametrize("method, url, body, status, message", [
    ("GET", "/api/search?query=", None, 400, "query= is empty"),
    ("GET", "/api/search", None, 400, "'query' is missing; /api/search takes query, k, mode"),
    ("GET", "/api/search?q=gpu", None, 400, "unknown parameter 'q'"),
    ("GET", "/api/search?query=gpu&k=0", None, 400, "between 1 and 1000, not 0"),
    ("GET", "/api/search?query=gpu&k=1001", None, 400, "between 1 and 1000, not 1001"),
    ("GET", "/api/search?query=gpu&k=ten", None, 400, "k= must be a whole number, not 'ten'"),
    ("GET", "/api/search?query=gpu&mode=fuzzy", None, 400, "must be one of hybrid, dense, lexical"),
    ("GET", "/api/search?query=gpu&year=2023-2020", None, 400, "year=2023-2020: the range is empty"),
    ("GET", "/api/search?query=gpu&year=20x", None, 400, "year=20x: give a year (2021) or a range"),
    ("GET", "/api/search?query=gpu&offset=995&k=10", None, 400, "offset= plus k= must be at most 1000"),
    ("GET", "/api/show/infra/mig?limit=0", None, 400, "limit= must be between 1 and 1000, not 0"),
    ("GET", "/api/topics?offset=-1", None, 400, "offset= must be 0 or more, not -1"),
    ("GET", "/api/search?query=gpu&format=endnote", None, 400, "format= must be one of json, bibtex, ris, csl-json"),
    ("GET", "/api/related?ref=infra/mig&diverse=maybe", None, 400, "diverse= must be true or false"),
    ("GET", "/api/related?ref=", None, 400, "ref= is empty"),
    ("GET", "/api/related?ref=nothing-like-it", None, 404, "no reference matches 'nothing-like-it'"),
    ("GET", "/api/show/infra/nothing", None, 404, "no reference matches 'infra/nothing'"),
    ("GET", "/api/nowhere", None, 404, "Not Found"),
    ("POST", "/api/topics", b"{}", 405, "Method Not Allowed"),
    ("POST", "/api/search", b"{not json", 400, "the body is not JSON"),
    ("POST", "/api/search", b"[1, 2]", 400, "must be a JSON object"),
    ("POST", "/api/search", b'{"query": "gpu", "k": true}', 400, "k= must be a whole number, not True"),
    ("POST", "/api/search", b'{"query": ["gpu"]}', 400, "query= must be text"),
    ("POST", "/api/search", json.dumps({"query": "x" * 1_000_001}).encode(), 400, "the limit is 1,000,000"),
    # issue 24: ASCII whole numbers only (str.isdigit() took `²` and `--5`, then int() failed: a 500)
    ("GET", "/api/search?query=gpu&k=--5", None, 400, "k= must be a whole number, not '--5'"),
    ("GET", "/api/search?query=gpu&k=%C2%B2", None, 400, "k= must be a whole number, not '²'"),
    ("GET", "/api/search?query=gpu&k=" + "9" * 5000, None, 400, "k= must be a whole number of at most 12 digits"),
    ("GET", "/api/related?ref=infra/mig&k=-5", None, 400, "between 1 and 1000, not -5"),
    ("POST", "/api/search", b'{"query": "gpu", "k": ' + b"9" * 5000 + b"}", 400, "the body is not JSON"),
])
def test_bad_requests_get_one_line(served, method, url, body, status, message):
    response = served.request(method, url, content=body, headers={"content-type": "application/json"} if body else {})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert message in error and "\n" not in error and "Traceback" not in error
    assert not re.search(r"(^| )(--?[a-z]|QUERY|REF)", error), error  # the API's words, not the CLI's


def test_an_over_long_body_is_refused_before_it_is_read(served, monkeypatch):
    monkeypatch.setattr(http, "MAX_BODY_BYTES", 1000)
    response = served.post("/api/search", content=b'{"query": "' + b"a" * 5000 + b'"}')
    assert response.status_code == 413 and "over 1,000 bytes" in response.json()["error"]


def test_a_bug_is_a_500_without_details_and_logged(served, monkeypatch):
    monkeypatch.setattr(refsearch.Index, "related", lambda *args, **kwargs: 1 / 0)
    response = served.get("/api/related?ref=infra/mig")
    assert response.status_code == 500 and response.json() == {"error": "internal error; the server's log has the details."}
    assert any("ZeroDivisionError" in line for line in served.said)


def test_answers_are_kept_per_generation(served, index, monkeypatch):
    ranked = []
    search = refsearch.Index.search
    monkeypatch.setattr(refsearch.Index, "search", lambda self, *a, **kw: ranked.append(a) or search(self, *a, **kw))
    first = served.get("/api/search?query=GPU%20slicing&k=2")
    again = served.get("/api/search?k=2&query=GPU%20slicing")
    assert first.json() == again.json() and len(ranked) == 1
    assert "app;dur=" in again.headers["server-timing"]
    refsearch.build(None, index, force=True)
    served.get("/api/search?query=GPU%20slicing&k=2")
    assert ranked[-1] == ("GPU slicing",) and len(ranked) == 3  # a new generation (warmed up) answers afresh


def test_topic_map_has_a_point_per_reference(served, index):
    data = served.get("/api/map").json()
    points = refsearch.open(index).topic_map()
    assert data["count"] == 3 and data["method"] == "knn-layout@1"
    assert data["points"]["id"] == ["infra/kserve", "infra/triton", "infra/mig"]
    assert data["points"]["x"] == [round(float(x), 4) for x in points[:, 0]]
    topics = [data["topics"][number] for number in data["points"]["topic"]]
    assert [t["topic"] for t in topics] == ["Serving", "Serving", "训练编排 + GPU"]
    assert topics[2]["topic_en"] == "Training orchestration + GPU"


def test_a_new_generation_is_picked_up_without_a_restart(served, index):
    assert served.get("/api/search?query=distributed%20python&mode=lexical").json()["results"] == []
    (index.parent / "refs" / "infra.yaml").write_text(
        PAGE + "  - name: Compute\n    references:\n      - {title: Ray, note: distributed Python}\n", encoding="utf-8")
    refsearch.build(None, index)
    found = served.get("/api/search?query=distributed%20python&mode=lexical").json()["results"]
    assert [r["title"] for r in found] == ["Ray"]
    assert served.get("/api/map").json()["count"] == 4
    assert any("now answering from" in line and "gen-2" in line for line in served.said)


def test_a_half_written_generation_is_never_served(served, index):
    """A build in progress (files written, CURRENT not yet swapped) is invisible; a CURRENT that points
    to a damaged generation is reported once and the old one keeps answering."""
    (index / "gen-7").mkdir()
    (index / "gen-7" / "records.jsonl").write_text('{"id": "x/half", "title": "Half"}\n', encoding="utf-8")
    (index / ".tmp-gen-abc").mkdir()
    assert served.get("/api/show/infra/mig").status_code == 200
    atomic.publish_file(index / "CURRENT", b"gen-7")
    for _ in range(3):
        response = served.get("/api/search?query=gpu&k=3&include_weak=true")
        assert response.status_code == 200 and {r["id"] for r in response.json()["results"]} == {
            "infra/kserve", "infra/triton", "infra/mig"}
    assert sum("cannot open the new index" in line for line in served.said) == 1


def test_an_index_without_a_map_says_how_to_get_one(index):
    """Built by an older refsearch and detached (its sources are gone), so opening it cannot add a map."""
    path = store.current_generation(index) / "manifest.json"
    manifest = json.loads(path.read_text("utf-8"))
    del manifest["map"]
    atomic.publish_file(path, json.dumps(manifest).encode())
    shutil.rmtree(index.parent / "refs")
    client = TestClient(http.create_app(LiveIndex(index, print), print), base_url=LOOPBACK)
    response = client.get("/api/map")
    assert response.status_code == 503 and "built before topic maps" in response.json()["error"]
    assert client.get("/api/search?query=gpu").status_code == 200


def test_only_loopback_names_are_answered(served, index):
    assert served.get("/api/topics", headers={"host": "attacker.example:8000"}).status_code == 400
    assert served.get("/api/topics", headers={"host": "localhost:8000"}).status_code == 200
    assert served.get("/api/topics", headers={"host": "[::1]:8000"}).status_code == 200
    anywhere = TestClient(http.create_app(LiveIndex(index, print), print, http.allowed_hosts("0.0.0.0", ["example.org"])),
                          base_url="http://example.org")
    assert anywhere.get("/api/topics").status_code == 200
    assert anywhere.get("/api/topics", headers={"host": "attacker.example"}).status_code == 400
    assert anywhere.get("/api/topics", headers={"host": f"{socket.gethostname()}:8000"}).status_code == 200


def test_allowed_hosts():
    assert http.allowed_hosts("127.0.0.2") == ["localhost", "127.0.0.1", "[::1]", "127.0.0.2"]
    assert http.allowed_hosts("::1", ["ignored.example"]) == ["localhost", "127.0.0.1", "[::1]"]
    beyond = http.allowed_hosts("0.0.0.0", ["Refs.Example.org"])
    assert {"0.0.0.0", socket.gethostname().lower(), "refs.example.org"} <= set(beyond)


def test_json_bodies_must_say_so(served):
    """A page elsewhere can POST text/plain without a CORS preflight; only application/json is read."""
    body = json.dumps({"query": "GPU slicing", "k": 1})
    for kind in ("text/plain", "application/x-www-form-urlencoded", None):
        response = served.post("/api/search", content=body, headers={"content-type": kind} if kind else {})
        assert response.status_code == 415 and "Content-Type: application/json" in response.json()["error"]
    response = served.post("/api/search", content=body, headers={"content-type": "application/json; charset=utf-8"})
    assert response.status_code == 200 and response.json()["results"][0]["title"] == "MIG"
    assert served.post("/api/search?query=gpu").status_code == 200  # no body: the query string's parameters


def test_kept_answers_are_bounded_in_bytes(served, monkeypatch):
    from refsearch.serve import answers

    monkeypatch.setattr(answers, "KEPT_BYTES", 20_000)
    monkeypatch.setattr(answers, "KEPT_LARGEST", 15_000)
    for number in range(40):
        assert served.get(f"/api/search?query=gpu+{number}&k=3").status_code == 200
    live_answers = served.live.answers()
    assert 0 < live_answers.kept_bytes <= 20_000 and len(live_answers._answers) < 40
    huge = "slicing " * 2000
    assert served.post("/api/search", json={"query": huge, "k": 3}).status_code == 200
    assert live_answers.peek("search", {"query": huge, "k": 3}) is None  # over KEPT_LARGEST: not kept


def test_the_page_is_local_and_locked_down(served):
    page = served.get("/?q=gpu")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    for asset in ("/static/app.js", "/static/style.css", "/static/api.js", "/api/docs"):
        assert served.get(asset).status_code == 200, asset
    for path in http.STATIC.iterdir():  # nothing from elsewhere, no HTML built from strings
        text = path.read_text("utf-8")
        assert not re.search(r"https?://|url\(|@import", text), path.name
        assert all(link.startswith(("/", "data:")) for link in re.findall(r'(?:src|href)="([^"]*)"', text)), path.name
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(", text), path.name


def test_openapi_documents_every_endpoint(served):
    spec = served.get("/api/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) == {endpoint.path for endpoint in http.ENDPOINTS}
    search = spec["paths"]["/api/search"]
    assert [p["name"] for p in search["get"]["parameters"]] == ["query", "k", "mode", "topic", "kind", "year", "page",
                                                                "author", "venue", "collection", "tag", "offset", "include_weak",
                                                                "format"]
    assert search["get"]["parameters"][2]["schema"]["enum"] == ["hybrid", "dense", "lexical"]
    assert search["get"]["parameters"][1]["schema"] == {"type": "integer", "default": 10, "minimum": 1, "maximum": 1000}
    assert search["post"]["requestBody"]["content"]["application/json"]["schema"]["required"] == ["query"]
    assert spec["paths"]["/api/show/{id}"]["get"]["parameters"][0]["in"] == "path"
    assert "application/x-bibtex" in search["get"]["responses"]["200"]["content"]
    assert "application/x-bibtex" not in spec["paths"]["/api/topics"]["get"]["responses"]["200"]["content"]


def test_listening_beyond_loopback_warns_and_a_taken_port_is_one_line(index, monkeypatch):
    import uvicorn

    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets: sockets[0].close())
    said: list[str] = []
    http.run([str(index)], "0.0.0.0", 0, said.append)
    assert said[0].startswith("warning: listening on 0.0.0.0, not loopback") and "serving" in said[-1]
    said.clear()
    http.run([str(index)], "127.0.0.1", 0, said.append)
    assert not any("warning" in line for line in said)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = runner.invoke(app, ["serve", "--index", str(index), "--port", str(taken.getsockname()[1])])
    assert result.exit_code == 1 and "cannot listen on 127.0.0.1:" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_is_loopback():
    assert all(map(http.is_loopback, ("127.0.0.1", "127.8.0.1", "localhost", "::1", "[::1]")))
    assert not any(map(http.is_loopback, ("0.0.0.0", "::", "192.168.1.2", "example.org")))


def test_a_cold_search_imports_no_server_module(index):
    code = FAKE_CLI.replace("main()", f"app(['search', 'gpu', '--json', '--index', {str(index)!r}], standalone_mode=False); "
                            "print(sorted(m.split('.')[0] for m in sys.modules if m.split('.')[0] in "
                            "('starlette', 'uvicorn', 'mcp', 'pydantic', 'anyio', 'httpx')), file=sys.stderr)")
    code = code.replace("from refsearch.cli import main", "from refsearch.cli import app")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(), timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["results"] and out.stderr.strip() == "[]"


def test_serve_reports_a_missing_extra(monkeypatch, index):
    from refsearch import errors

    real = errors.find_spec
    monkeypatch.setattr(errors, "find_spec", lambda name: None if name == "uvicorn" else real(name))
    result = runner.invoke(app, ["serve", "--index", str(index)])
    assert result.exit_code == 1 and "needs uvicorn: pip install 'refsearch[serve]'" in result.stderr


# --- issue 26 part 4 over HTTP: results back out for a reference manager ---------------------------

@pytest.mark.parametrize("fmt, media", [("bibtex", "application/x-bibtex"), ("ris", "application/x-research-info-systems"),
                                        ("csl-json", "application/vnd.citationstyles.csl+json")])
def test_results_come_back_out_for_a_reference_manager(tmp_path, fake_encoder, fmt, media):
    index = make_project(tmp_path, FIVE)
    client = TestClient(http.create_app(LiveIndex(index, print), print), base_url=LOOPBACK)
    found = client.get(f"/api/search?query=GPU&k=5&include_weak=true&format={fmt}")
    assert found.status_code == 200 and found.headers["content-type"].startswith(media), found.text
    refs = exported_refs(fmt, found.text)
    titles = [r["title"] for r in client.get("/api/search?query=GPU&k=5&include_weak=true").json()["results"]]
    assert [title for title, _, _ in refs] == titles and len(refs) == 5
    assert all(url.startswith("https://") and note for _, url, note in refs)
    related = client.get("/api/related", params={"ref": "infra/mig", "k": 5, "format": fmt})
    assert len(exported_refs(fmt, related.text)) == 5 and related.headers["content-type"].startswith(media)
    shown = exported_refs(fmt, client.get(f"/api/show/infra/mig?format={fmt}").text)
    assert shown == [("MIG", "https://nvidia.com/mig", "GPU 切片调度。\nGPU slicing and scheduling.")]
    again = client.get(f"/api/search?query=GPU&k=5&include_weak=true&format={fmt}")  # a kept answer, same file
    assert again.text == found.text and again.headers["content-type"] == found.headers["content-type"]


def test_an_export_fits_an_answer_and_says_where_the_rest_start(tmp_path, fake_encoder):
    """k=1000 with format=bibtex must not put megabytes into an assistant's context: the first
    references that fit the budget, at least one, and the offset of the rest."""
    from refsearch.serve.answers import exported

    refs = list(refsearch.open(make_project(tmp_path, FIVE)))
    whole = exported(refs, "ris")
    assert "next_offset" not in whole and len(exported_refs("ris", whole["text"])) == len(refs) > 2
    cut = exported(refs, "ris", offset=10, budget=len(whole["text"]) // 2)
    assert len(cut["text"]) <= len(whole["text"]) // 2 and cut["cut_to_fit"]
    assert [title for title, _, _ in exported_refs("ris", cut["text"])] == [r.title for r in refs[:cut["shown"]]]
    assert cut["next_offset"] == 10 + cut["shown"] and 1 <= cut["shown"] < len(refs)
    assert exported(refs, "csl-json", budget=1)["shown"] == 1  # one reference, whatever its length


# --- issue 29 part 5: `serve --index A --index B` answers across several libraries -------------------

def test_several_indexes_answer_as_one(tmp_path, fake_encoder):
    from refsearch.serve.live import live_index

    work, reading = make_project(tmp_path / "work"), make_project(tmp_path / "reading", READING)
    client = TestClient(http.create_app(live_index([str(work), str(reading)], print), print), base_url=LOOPBACK)
    found = client.get("/api/search?query=GPU&k=5&include_weak=true").json()["results"]
    assert {r["library"] for r in found} == {"work/index", "reading/index"}
    assert all(r["id"].startswith(r["library"] + ":") for r in found)
    salus = next(r for r in found if r["title"] == "Salus")
    assert client.get(f"/api/show/{salus['id']}").json()["title"] == "Salus"
    assert client.get("/api/related", params={"ref": salus["id"], "k": 3}).json()["related"]
    assert client.get("/api/index").json()["references"] == 5
    points = client.get("/api/map").json()["points"]  # each library in a panel of its own
    panels = {}
    for ref_id, x, y in zip(points["id"], points["x"], points["y"]):
        assert 0 <= x <= 1 and 0 <= y <= 1
        panels.setdefault(ref_id.split(":")[0], []).append(x)
    assert set(panels) == {"work/index", "reading/index"} and sum(map(len, panels.values())) == 5
    assert max(panels["work/index"]) < min(panels["reading/index"])
    exported = client.get("/api/search?query=GPU&k=5&include_weak=true&format=ris")
    assert [title for title, _, _ in exported_refs("ris", exported.text)] == [r["title"] for r in found]
    (tmp_path / "reading" / "refs" / "infra.yaml").write_text(READING + "      - {title: Gavel, url: "
                                                              "\"https://example.org/gavel\", note: GPU scheduling}\n")
    refsearch.build(None, reading)  # one library rebuilt: picked up without a restart
    titles = [r["title"] for r in client.get("/api/search?query=GPU&k=10&include_weak=true").json()["results"]]
    assert "Gavel" in titles and client.get("/api/index").json()["references"] == 6
    with pytest.raises(refsearch.RefsearchError, match="the same index is named twice"):
        live_index([str(work), str(work)], print)
