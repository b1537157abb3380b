"""A killed build resumes from its last finished chunk: the journal of embedded vectors."""

from __future__ import annotations

import numpy as np
import pytest

import refsearch
from refsearch import builder
from refsearch.index import Index
from refsearch.journal import Journal

TITLES = [f"Reference number {n} about topic {n % 3}" for n in range(7)]


def write_page(folder, titles):
    folder.mkdir(exist_ok=True)
    lines = ["# Journal test"] + [f"- [{t}](https://example.org/{i}) - note {i}" for i, t in enumerate(titles)]
    (folder / "list.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_build_that_dies_resumes_without_embedding_again(tmp_path, fake_encoder, monkeypatch):
    write_page(tmp_path / "src", TITLES)
    monkeypatch.setattr(builder, "CHUNK", 3)
    real_encode, calls = fake_encoder.encode, []

    def dies_on_the_third_chunk(texts, batch_size=32, encoded=None):
        calls.append(len(texts))
        if len(calls) == 3:
            raise KeyboardInterrupt  # as if killed while embedding the third chunk
        return real_encode(texts, batch_size)

    monkeypatch.setattr(fake_encoder, "encode", dies_on_the_third_chunk)
    with pytest.raises(KeyboardInterrupt):
        refsearch.build([tmp_path / "src"], tmp_path / "idx")
    assert not (tmp_path / "idx" / "CURRENT").exists()  # nothing published
    monkeypatch.setattr(fake_encoder, "encode", real_encode)
    fake_encoder.encoded.clear()
    report = refsearch.build([tmp_path / "src"], tmp_path / "idx")
    assert report.total == 7 and len(fake_encoder.encoded) == 1  # only the chunk in flight is embedded again
    index = Index.open(tmp_path / "idx")
    assert [hit.ref.title for hit in index.search(TITLES[4], k=1, mode="dense")] == [TITLES[4]]
    assert not list((tmp_path / "idx").glob(".journal-*"))


def test_only_complete_rows_survive_a_torn_write(tmp_path):
    journal = Journal(tmp_path, "fp", 4)
    journal.add(["a" * 32, "b" * 32], np.eye(2, 4, dtype=np.float32))
    with open(journal.directory / "vectors.f32", "ab") as handle:
        handle.write(np.ones(4, dtype=np.float32).tobytes())  # a third row whose hash never got written
    with open(journal.directory / "hashes.txt", "ab") as handle:
        handle.write(b"c" * 20)  # and a torn hash line
    again = Journal(tmp_path, "fp", 4)
    assert again.rows == {"a" * 32: 0, "b" * 32: 1}
    assert np.array_equal(again.vectors(np.array([1])), np.eye(2, 4, dtype=np.float32)[1:])
    again.add(["d" * 32], np.full((1, 4), 2, dtype=np.float32))
    assert Journal(tmp_path, "fp", 4).rows["d" * 32] == 2


CHILD = """
import sys, time
sys.path.insert(0, sys.argv[3])
from fakes import FakeBackend, FakeEncoder
import refsearch
from refsearch import builder, encoders

class Slow(FakeEncoder):
    def encode(self, texts, batch_size=32, encoded=None):
        time.sleep(0.3)  # long enough for the parent to kill it between chunks
        with open(sys.argv[4], "a") as log:
            log.write(f"{len(texts)}\\n")
        return super().encode(texts, batch_size)

encoders.register("fake", FakeBackend(Slow()))
builder.CHUNK = 10
refsearch.build([sys.argv[1]], sys.argv[2], encoder="fake")
"""


@pytest.mark.slow
def test_a_build_killed_with_sigkill_resumes_from_its_last_chunk(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    write_page(tmp_path / "src", [f"Reference {n} of the killed build" for n in range(100)])
    log = tmp_path / "embedded.log"
    command = [sys.executable, "-c", CHILD, str(tmp_path / "src"), str(tmp_path / "idx"),
               str(Path(__file__).parent), str(log)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    child = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + 60
    while not (log.exists() and len(log.read_text().split()) >= 4):  # four chunks embedded, then kill
        assert time.monotonic() < deadline and child.poll() is None
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert not (tmp_path / "idx" / "CURRENT").exists()
    journalled = len(next((tmp_path / "idx").glob(".journal-*")).joinpath("hashes.txt").read_text().split())
    assert journalled >= 30  # at least the chunks before the one in flight
    log.write_text("")
    assert subprocess.run(command, env=env).returncode == 0
    assert sum(map(int, log.read_text().split())) == 100 - journalled  # nothing journalled is embedded again
    assert len(refsearch.open(tmp_path / "idx")) == 100
