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

    def dies_on_the_third_chunk(texts, batch_size=32):
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
