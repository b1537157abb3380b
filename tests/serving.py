"""Helpers for the server tests: a small project indexed with the fake encoder, and how to start a
refsearch command in a subprocess that registers that encoder first."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import refsearch

PAGE = """format: refsearch/references@1
page: Infra reading
key: infra
topics:
  - name: Serving
    references:
      - {title: KServe, url: "https://kserve.io", year: 2019, kind: official-doc, note: Kubernetes model serving}
      - {title: Triton, url: "https://triton.io", year: 2018, kind: official-doc,
         note: GPU inference server with dynamic batching}
  - name: 训练编排 + GPU
    name_en: Training orchestration + GPU
    references:
      - {title: MIG, url: "https://nvidia.com/mig", year: 2020, kind: official-doc, note: GPU 切片调度。,
         note_en: GPU slicing and scheduling.}
"""

# PAGE with six references: five results to export and one more
FIVE = PAGE.replace("""      - {title: MIG,""", """      - {title: Gandiva, url: "https://example.org/gandiva", year: 2018, kind: paper, note: GPU 集群调度}
      - {title: Tiresias, url: "https://example.org/tiresias", year: 2019, kind: paper, note: GPU cluster scheduler}
      - {title: Salus, url: "https://example.org/salus", year: 2020, kind: paper, note: fine-grained GPU sharing}
      - {title: MIG,""")


# A second library, for several answering as one
READING = """format: refsearch/references@1
page: Reading
key: reading
topics:
  - name: GPUs
    references:
      - {title: Salus, url: "https://example.org/salus", year: 2020, kind: paper, note: fine-grained GPU sharing}
      - {title: Ray, url: "https://ray.io", year: 2018, kind: official-doc, note: distributed Python}
"""


def exported_refs(fmt: str, text: str) -> list[tuple[str, str, str]]:
    """(title, url, annotation) of each reference in an exported file, read back by its own reader."""
    import bibtexparser
    import rispy

    if fmt == "bibtex":
        library = bibtexparser.parse_string(text)
        assert not library.failed_blocks
        return [(e["title"], e["url"], e["note"]) for e in library.entries]
    if fmt == "ris":
        return [(r["title"], r["urls"][0], "\n".join(r["notes"])) for r in rispy.loads(text)]
    return [(item["title"], item["URL"], item["note"]) for item in json.loads(text)]


# Runs the CLI after registering the fake encoder (a subprocess does not see the test's registration).
FAKE_CLI = ("import sys; from refsearch import encoders; from fakes import FakeBackend, FakeEncoder; "
            "encoders.register('fake', FakeBackend(FakeEncoder())); from refsearch.cli import main; "
            "sys.argv[0] = 'refsearch'; main()")


def make_project(root: Path, page: str = PAGE) -> Path:
    """`root/refs/infra.yaml` indexed into `root/index` (the caller has the fake encoder selected)."""
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "infra.yaml").write_text(page, encoding="utf-8")
    refsearch.build([root / "refs"], root / "index")
    return root / "index"


def subprocess_env() -> dict[str, str]:
    """The test session's environment for a child, with the tests folder importable (fakes.py)."""
    tests = str(Path(__file__).parent)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([tests, *sys.path]), "HF_HUB_OFFLINE": "1"}


@contextmanager
def running_server(index_dir: Path) -> Iterator[str]:
    """`refsearch serve` over `index_dir` in a thread of this process, on a free loopback port: its URL."""
    import uvicorn

    from refsearch.serve import http
    from refsearch.serve.live import LiveIndex

    live = LiveIndex(index_dir, print)
    sock = http.bind("127.0.0.1", 0)
    server = uvicorn.Server(http.server_config(http.create_app(live, print)))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
