"""Servers follow their sources (serve/live.py's SourceWatcher): an entry added to a source file is
answered without a build by hand, the server answering from the current generation meanwhile."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request

import pytest

from serving import FAKE_CLI, PAGE, make_project, subprocess_env

pytest.importorskip("starlette", reason="needs the serve extra: pip install 'refsearch[serve]'")
from starlette.testclient import TestClient  # noqa: E402

from refsearch.serve import http  # noqa: E402
from refsearch.serve.live import LiveIndex, SourceWatcher  # noqa: E402

ADDED = "      - {title: Seldon Core, url: \"https://seldon.io\", kind: repo, note: inference graphs on Kubernetes}\n"


def with_seldon() -> str:
    return PAGE.replace("  - name: 训练编排", ADDED + "  - name: 训练编排")


def titles(client, query: str) -> list[str]:
    return [hit["title"] for hit in client.get("/api/search", params={"query": query}).json()["results"]]


def test_a_changed_source_is_rebuilt_once_it_settles_and_then_answered(tmp_path, fake_encoder):
    index = make_project(tmp_path)
    said: list[str] = []
    live = LiveIndex(index, said.append)
    client = TestClient(http.create_app(live, said.append), base_url="http://127.0.0.1")
    first = client.get("/api/index").json()
    assert first["generation"] == "gen-1" and first["references"] == 3 and first["created"]
    watcher = SourceWatcher(index, said.append, check=0.01, settle=0.2)
    assert not watcher.check()  # fresh: nothing to do
    (tmp_path / "refs" / "infra.yaml").write_text(with_seldon(), encoding="utf-8")
    assert not watcher.check()  # a change is seen, but has not settled yet
    assert "Seldon Core" not in titles(client, "inference graphs")  # the current generation answers meanwhile
    time.sleep(0.25)
    assert watcher.check()  # settled: built
    assert "Seldon Core" in titles(client, "inference graphs")
    assert client.get("/api/index").json()["references"] == 4
    assert any("sources changed" in line for line in said) and any("1 added" in line for line in said)
    assert not watcher.check()


def test_a_broken_source_is_said_once_and_the_server_keeps_answering(tmp_path, fake_encoder):
    index = make_project(tmp_path)
    said: list[str] = []
    live = LiveIndex(index, said.append)
    watcher = SourceWatcher(index, said.append, check=0.01, settle=0.0)
    (tmp_path / "refs" / "infra.yaml").write_text(PAGE + "  - name: [unclosed\n", encoding="utf-8")
    for _ in range(4):
        watcher.check()
    assert sum("cannot update" in line for line in said) == 1
    assert live.answers().search(query="GPU slicing")["results"]
    (tmp_path / "refs" / "infra.yaml").write_text(with_seldon(), encoding="utf-8")
    watcher.check()
    assert watcher.check()  # a new change is tried again


@pytest.mark.slow
def test_refsearch_serve_answers_an_added_entry_within_30_seconds(tmp_path, fake_encoder):
    """The real command, default check and settle times, no build by hand."""
    index = make_project(tmp_path)
    server = subprocess.Popen([sys.executable, "-c", FAKE_CLI, "serve", "--index", str(index), "--port", "0"],
                              stderr=subprocess.PIPE, text=True, env=subprocess_env(), cwd=tmp_path)
    try:
        url = None
        while url is None:
            line = server.stderr.readline()
            assert line, "the server stopped"
            found = re.search(r"on (http://127\.0\.0\.1:[0-9]+)/", line)
            url = found and found[1]
        (tmp_path / "refs" / "infra.yaml").write_text(with_seldon(), encoding="utf-8")
        added = time.monotonic()
        while time.monotonic() - added < 30:
            with urllib.request.urlopen(f"{url}/api/search?query=inference+graphs&k=3") as response:
                if "Seldon Core" in [hit["title"] for hit in json.load(response)["results"]]:
                    break
            time.sleep(0.5)
        else:
            pytest.fail("the added entry was not answered within 30 s")
        print(f"\nanswered {time.monotonic() - added:.1f} s after the file was saved")
    finally:
        server.terminate()
        server.wait(10)
