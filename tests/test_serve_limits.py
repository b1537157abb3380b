"""`refsearch serve` under clients that misbehave and an index changed under it (issue 24): a file
truncated in place answers 503 (never SIGBUS) until the index is rebuilt, an index deleted and
rebuilt at the same path answers from the new data, idle and slow connections cannot keep a normal
request out, the log stays bounded, and --host/--port are checked."""

from __future__ import annotations

import json
import logging
import resource
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from typer.testing import CliRunner

import refsearch
from refsearch.cli import app
from serving import FAKE_CLI, PAGE, make_project, running_server, subprocess_env

pytest.importorskip("starlette", reason="needs the serve extra: pip install 'refsearch[serve]'")
from starlette.testclient import TestClient  # noqa: E402

from refsearch.serve import http, limits  # noqa: E402
from refsearch.serve.live import LiveIndex  # noqa: E402

runner = CliRunner()


@pytest.fixture
def index(tmp_path, fake_encoder):
    return make_project(tmp_path)


def client(index) -> TestClient:
    said: list[str] = []
    test_client = TestClient(http.create_app(LiveIndex(index, said.append), said.append), base_url="http://127.0.0.1")
    test_client.said = said
    return test_client


@pytest.mark.parametrize("name", ["vectors.npy", "lexical.terms.bin", "facets.npy", "records.jsonl", "map.npy"])
def test_a_file_truncated_in_place_answers_503_until_the_index_is_rebuilt(index, name):
    served = client(index)
    assert served.get("/api/search?query=gpu").status_code == 200
    with open(refsearch.open(index).generation.path(name), "r+b") as handle:  # as `cp` over it starts
        handle.truncate(100)
    for url in ("/api/search?query=gpu", "/api/search?query=gpu", "/api/map", "/api/topics"):  # kept answers too
        response = served.get(url)
        assert response.status_code == 503, url
        assert f"{name}: index file is truncated or damaged (100 bytes" in response.json()["error"]
    result = runner.invoke(app, ["build", "--force", "--index", str(index)])  # the fix the message names
    assert result.exit_code == 0, result.output
    assert served.get("/api/search?query=GPU%20slicing").json()["results"][0]["title"] == "MIG"


def test_an_index_deleted_and_rebuilt_at_the_same_path_answers_from_the_new_data(index):
    served = client(index)
    assert served.get("/api/show/infra/mig").status_code == 200
    shutil.rmtree(index)
    assert served.get("/api/search?query=gpu").status_code == 503  # its files are gone
    (index.parent / "refs" / "infra.yaml").write_text(PAGE.replace("title: MIG", "title: Multi-Instance GPU"), "utf-8")
    refsearch.build([index.parent / "refs"], index)
    assert refsearch.open(index).generation.directory.name == "gen-1"  # the same name as the old one
    found = served.get("/api/search?query=GPU%20slicing").json()["results"]
    assert found[0]["title"] == "Multi-Instance GPU" and served.get("/api/show/infra/mig").status_code == 404


@pytest.mark.parametrize("host, port, message", [
    ("127.0.0.1", 99999, "--port must be between 0 and 65535 (0: any free port), not 99999."),
    ("127.0.0.1", -1, "--port must be between 0 and 65535"),
    ("", 8000, "--host is empty"),
    ("no such host.invalid", 8000, "cannot listen on no such host.invalid:8000"),
])
def test_host_and_port_are_checked_before_anything_is_opened(tmp_path, host, port, message):
    result = runner.invoke(app, ["serve", "--index", str(tmp_path / "none"), "--host", host, "--port", str(port)])
    assert result.exit_code == 1 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_server_on_another_loopback_address_answers_requests_to_it(index):
    served = TestClient(http.create_app(LiveIndex(index, print), print, http.allowed_hosts("127.0.0.2")),
                        base_url="http://127.0.0.2:8000")
    assert served.get("/api/topics").status_code == 200
    assert served.get("/api/topics", headers={"host": "attacker.example"}).status_code == 400


def test_the_log_is_loud_but_bounded(caplog):
    log = logging.getLogger("refsearch-test-flood")
    log.addFilter(limits.BoundedLog(seconds=60))
    with caplog.at_level(logging.ERROR, logger=log.name):
        for _ in range(5000):
            try:
                raise OSError(24, "Too many open files")
            except OSError:
                log.error("socket.accept() out of system resource", exc_info=True)
        log.error("another kind of trouble")
    assert [record.getMessage() for record in caplog.records] == [
        "socket.accept() out of system resource (OSError: [Errno 24] Too many open files)", "another kind of trouble"]
    assert all(record.exc_info is None for record in caplog.records)


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _closed_by_server(connection: socket.socket, within: float) -> bool:
    connection.settimeout(within)
    try:
        return connection.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def test_slow_or_idle_connections_are_dropped(index, monkeypatch):
    monkeypatch.setattr(limits, "HEADER_SECONDS", 0.5)
    with running_server(index) as url:
        idle, slow, endless = _connect(url), _connect(url), _connect(url)
        slow.sendall(b"GET /api/topics HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers never finished
        endless.sendall(b"GET /api/topics HTTP/1.1\r\n" + b"X-Filler: " + b"a" * (limits.HEADER_BYTES + 10))
        assert _closed_by_server(endless, 0.4)  # over HEADER_BYTES: at once
        assert _closed_by_server(idle, 5) and _closed_by_server(slow, 5)
        with urllib.request.urlopen(url + "/api/topics", timeout=5) as response:
            assert response.status == 200


def test_idle_connections_beyond_the_limit_make_room_for_a_request(index, monkeypatch):
    monkeypatch.setattr(limits, "MAX_CONNECTIONS", 20)
    with running_server(index) as url:
        idle = [_connect(url) for _ in range(40)]
        started = time.monotonic()
        with urllib.request.urlopen(url + "/api/search?query=gpu", timeout=5) as response:
            assert response.status == 200 and time.monotonic() - started < 5
        assert sum(_closed_by_server(connection, 0.05) for connection in idle) >= 20
        for connection in idle:
            connection.close()


# --- the real command, in a child with the descriptor limit of the pass (1,024) -----------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.slow
def test_the_served_index_survives_what_the_pass_did_to_it(index):
    """`refsearch serve` at a 1,024-descriptor limit: 1,100 idle connections, a normal request still
    answered within 5 s, the log a few lines; `k=--5` a 400; a file truncated in place a 503, the
    process alive, and answers again after `build --force`."""
    wanted = 1100 + 100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"this process may open {hard} descriptors; the test needs {wanted}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", FAKE_CLI, "serve", "--index", str(index), "--port", str(port)],
                              env=subprocess_env(), stderr=subprocess.PIPE, text=True,
                              preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024)))
    url = f"http://127.0.0.1:{port}"
    idle: list[socket.socket] = []
    try:
        for _ in range(300):
            try:
                if _get(url + "/api/topics")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(1100)]
        started = time.monotonic()
        status, answer = _get(url + "/api/search?query=GPU%20slicing")
        assert status == 200 and answer["results"][0]["title"] == "MIG" and time.monotonic() - started < 5
        for connection in idle:
            connection.close()

        status, answer = _get(url + "/api/search?query=gpu&k=--5")
        assert status == 400 and answer == {"error": "k= must be a whole number, not '--5'."}

        with open(refsearch.open(index).generation.path("vectors.npy"), "r+b") as handle:
            handle.truncate(100)
        status, answer = _get(url + "/api/search?query=gpu")
        assert status == 503 and "vectors.npy: index file is truncated or damaged" in answer["error"]
        assert server.poll() is None  # alive: no SIGBUS
        assert runner.invoke(app, ["build", "--force", "--index", str(index)]).exit_code == 0
        assert _get(url + "/api/search?query=GPU%20slicing")[1]["results"][0]["title"] == "MIG"
    finally:
        for connection in idle:
            connection.close()
        server.terminate()
        log = server.communicate(timeout=30)[1]
    assert len(log) < 4096 and "Traceback" not in log, log
