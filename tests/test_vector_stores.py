"""The vector stores: exact below EXACT_BELOW, IVF-SQ8 above, chosen by the build and recorded."""

from __future__ import annotations

import numpy as np
import pytest

from refsearch import vectors
from refsearch.errors import IndexProblem

pytest.importorskip("faiss")


def unit_rows(n: int, d: int = 32, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def write(kind: str, directory, rows: np.ndarray, previous=None) -> dict:
    files = []
    writer = vectors.writer(kind, lambda name: files.append(name) or directory / name, rows.shape[1], previous)
    for start in range(0, len(rows), 1000):
        writer.add(rows[start:start + 1000])
    entry = writer.finish()
    assert entry["files"] == files and [p.name for p in directory.iterdir()] == files  # no spool left
    return entry


def test_the_store_is_chosen_by_size():
    assert vectors.store_for(vectors.EXACT_BELOW - 1) == "flat"
    assert vectors.store_for(vectors.EXACT_BELOW) == "ivf-sq8"


def test_ivf_finds_what_exact_search_finds(tmp_path):
    rows = unit_rows(6000)
    (tmp_path / "flat").mkdir(), (tmp_path / "ivf").mkdir()
    exact = vectors.open_store(tmp_path / "flat", write("flat", tmp_path / "flat", rows), 6000, 32)
    entry = write("ivf-sq8", tmp_path / "ivf", rows)
    assert entry["factory"] == "IVF128,SQ8" and entry["nprobe"] == 64  # 2.5·√6000 -> 256, halved for 39 rows a list
    ivf = vectors.open_store(tmp_path / "ivf", entry, 6000, 32)
    queries = unit_rows(50, seed=1)
    _, want = exact.search(queries, 10)
    _, got = ivf.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(want, got)])
    assert recall >= 0.9
    decoded = ivf.vectors(np.array([0, 5999]))
    assert np.all((decoded * rows[[0, 5999]]).sum(axis=1) > 0.999)  # 8-bit codes, close to the rows


def test_an_update_keeps_the_lists_training_while_their_number_holds(tmp_path, monkeypatch):
    rows = unit_rows(6000)
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir(), (tmp_path / "c").mkdir()
    first = vectors.open_store(tmp_path / "a", write("ivf-sq8", tmp_path / "a", rows), 6000, 32)
    import faiss

    trained = []
    monkeypatch.setattr(faiss.IndexIVFScalarQuantizer, "train", lambda self, x: trained.append(len(x)))
    grown = np.concatenate([rows[:3000], unit_rows(10, seed=2), rows[3000:]])
    again = vectors.open_store(tmp_path / "b", write("ivf-sq8", tmp_path / "b", grown, first), 6010, 32)
    assert trained == []  # 6,010 rows: still 128 lists, trained as before
    before = first.search(rows[:20], 5)[1]
    assert np.array_equal(again.search(rows[:20], 5)[1], np.where(before >= 3000, before + 10, before))  # same lists
    monkeypatch.undo()
    doubled = np.concatenate([rows, unit_rows(6000, seed=3)])
    entry = write("ivf-sq8", tmp_path / "c", doubled, first)
    assert entry["factory"] == "IVF256,SQ8"  # twice the rows: more lists, trained anew


def test_a_narrow_filter_on_ivf_is_searched_exactly(tmp_path):
    rows = unit_rows(3000)
    ivf = vectors.open_store(tmp_path, write("ivf-sq8", tmp_path, rows), 3000, 32)
    allowed = np.zeros(3000, dtype=bool)
    allowed[[7, 1500, 2999]] = True
    scores, found = ivf.search(rows[1500:1501], 5, allowed)
    assert found[0].tolist()[0] == 1500 and sorted(found[0].tolist()) == [7, 1500, 2999]


def test_an_ivf_file_that_lies_is_damage(tmp_path):
    rows = unit_rows(2000)
    entry = write("ivf-sq8", tmp_path, rows)
    with pytest.raises(IndexProblem, match="disagree"):
        vectors.open_store(tmp_path, entry, 2001, 32)
    with pytest.raises(IndexProblem, match="disagree"):
        vectors.open_store(tmp_path, {**entry, "nprobe": 10**9}, 2000, 32)
    (tmp_path / "vectors.ivf").write_bytes(b"not faiss")
    with pytest.raises(IndexProblem, match="unreadable vector index"):
        vectors.open_store(tmp_path, entry, 2000, 32)


def test_a_large_library_builds_an_ivf_store_and_answers(tmp_path, fake_encoder, monkeypatch):
    import refsearch

    monkeypatch.setattr(vectors, "EXACT_BELOW", 50)  # as if these 300 references were 300,000
    (tmp_path / "lib.md").write_text("# Library\n" + "".join(
        f"- [Paper {n} on {word}](https://x.io/{n}) - a study of {word} number {n}\n"
        for n, word in ((n, ("graphs", "kernels", "proteins")[n % 3]) for n in range(300))), "utf-8")
    refsearch.build([tmp_path / "lib.md"], tmp_path / "idx")
    index = refsearch.open(tmp_path / "idx")
    assert index.manifest["vectors"]["store"] == "ivf-sq8"
    assert index.search("Paper 17 proteins", k=1)[0].ref.title == "Paper 17 on proteins"
    assert len(index.related(index.resolve("Paper 17 on proteins"), k=3)) == 3
    (tmp_path / "lib.md").write_text((tmp_path / "lib.md").read_text("utf-8") + "- [One more](https://x.io/m) - extra\n", "utf-8")
    fake_encoder.encoded.clear()
    assert refsearch.build([tmp_path / "lib.md"], tmp_path / "idx").added == 1
    assert len(fake_encoder.encoded) == 1  # the others reused, decoded from the 8-bit codes


@pytest.mark.parametrize("kind", ["flat", "ivf-sq8"])
def test_rows_named_in_the_previous_store_are_taken_from_it(tmp_path, kind):
    rows = unit_rows(6000)
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    first = vectors.open_store(tmp_path / "a", write(kind, tmp_path / "a", rows), 6000, 32)
    new = unit_rows(10, seed=2)
    files = []
    writer = vectors.writer(kind, lambda name: files.append(name) or tmp_path / "b" / name, 32, first)
    previous_rows = np.concatenate([np.arange(3000), np.full(10, -1), np.arange(3000, 5999), [7]])  # row 5999 gone, 7 twice
    for start in range(0, len(previous_rows), 1000):
        part = previous_rows[start:start + 1000]
        writer.add(new[(previous_rows[:start] < 0).sum():][:(part < 0).sum()], part)
    entry = writer.finish()
    again = vectors.open_store(tmp_path / "b", entry, 6010, 32)
    taken = np.flatnonzero(previous_rows >= 0)
    assert np.array_equal(again.vectors(taken), first.vectors(previous_rows[taken]))  # the same codes, not encoded again
    (tmp_path / "c").mkdir()
    given = np.concatenate([rows[:3000], new, rows[3000:5999], rows[[7]]])
    added = vectors.open_store(tmp_path / "c", write(kind, tmp_path / "c", given, first), 6010, 32)  # every vector given
    assert np.array_equal(again.vectors(np.arange(3000, 3010)), added.vectors(np.arange(3000, 3010)))  # encoded alike
    _, found = again.search(new[:3], 1)
    assert found.ravel().tolist() == [3000, 3001, 3002]
    _, found = again.search(rows[[5, 4000]], 2)
    assert found[0, 0] == 5 and found[1, 0] == 4010
    with pytest.raises(ValueError):
        writer.add(new[:2], np.array([-1, 3, -1]))  # three rows, two vectors given


@pytest.mark.parametrize("ids", [[0, 0, 2, 3], [0, 1, 2, 9]])
def test_lists_whose_rows_are_not_each_row_once_are_damage(tmp_path, ids):
    import faiss

    rows = unit_rows(2000)
    entry = write("ivf-sq8", tmp_path, rows)
    index = faiss.read_index(str(tmp_path / "vectors.ivf"))
    index.reset()
    index.set_direct_map_type(faiss.DirectMap.NoMap)
    index.add_with_ids(rows[:4], np.array(ids, dtype=np.int64))
    faiss.write_index(index, str(tmp_path / "vectors.ivf"))
    with pytest.raises(IndexProblem, match="disagree"):
        vectors.open_store(tmp_path, entry, 4, 32).lists_and_codes()
