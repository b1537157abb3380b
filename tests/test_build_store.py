"""Index lifecycle with the fake encoder: incremental builds, generations, damage detection."""

import json

import pytest

import refsearch
from refsearch import store
from refsearch.errors import IndexProblem, NoMatch
from refsearch.index import Index
from refsearch.search import Filters

PAGE = """# My refs
## Serving
- [KServe](https://kserve.io) - Kubernetes model serving
- [Triton](https://triton.io) - GPU inference server
## GPUs
- [MIG](https://nvidia.com/mig) - GPU 切片调度
"""


@pytest.fixture
def page(tmp_path):
    path = tmp_path / "refs" / "page.md"
    path.parent.mkdir()
    path.write_text(PAGE, encoding="utf-8")
    return path


def test_build_then_rebuild_nothing_changed(tmp_path, page, fake_encoder):
    first = refsearch.build([page.parent], tmp_path / "idx")
    assert (first.added, first.total, first.rebuilt) == (3, 3, True)
    again = refsearch.build([page.parent], tmp_path / "idx")
    assert (again.unchanged, again.rebuilt) == (3, False)


def test_progress_moves_as_the_encoder_finishes_batches(tmp_path, fake_encoder, monkeypatch):
    """Not once per chunk of 2,048: a bar that jumps by 2,048 has no rate to give an ETA from."""
    from refsearch import builder

    encode = fake_encoder.encode

    def in_batches_of_two(texts, batch_size=32, encoded=None):
        for done in range(2, len(texts) + 2, 2):
            encoded(min(done, len(texts)))
        return encode(texts)

    monkeypatch.setattr(fake_encoder, "encode", in_batches_of_two)
    monkeypatch.setattr(builder, "CHUNK", 4)
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "page.md").write_text("# P\n" + "".join(f"- [T{n}](https://t{n}.org) - note {n}\n"
                                                                for n in range(7)), encoding="utf-8")
    seen = []
    refsearch.build([tmp_path / "refs"], tmp_path / "idx", progress=lambda done, total: seen.append((done, total)))
    assert [done for done, _ in seen] == [2, 4, 4, 6, 7, 7] and {total for _, total in seen} == {7}


def test_incremental_build_embeds_only_changed(tmp_path, page, fake_encoder):
    refsearch.build([page.parent], tmp_path / "idx")
    fake_encoder.encoded.clear()
    page.write_text(PAGE.replace("GPU inference server", "GPU inference server, dynamic batching")
                    .replace("- [KServe](https://kserve.io) - Kubernetes model serving\n", "")
                    + "- [vLLM](https://vllm.ai) - PagedAttention\n", encoding="utf-8")
    report = refsearch.build([page.parent], tmp_path / "idx")
    assert (report.added, report.changed, report.removed, report.unchanged) == (1, 1, 1, 1)
    assert len(fake_encoder.encoded) == 2


def test_ids_stable_when_entry_moves(tmp_path, page, fake_encoder):
    refsearch.build([page.parent], tmp_path / "idx")
    before = {r.title: r.id for r in list(Index.open(tmp_path / "idx"))}
    lines = PAGE.splitlines()
    moved = "\n".join([lines[0], lines[1], lines[3], lines[2], *lines[4:]]) + "\n"
    page.write_text(moved, encoding="utf-8")
    report = refsearch.build([page.parent], tmp_path / "idx")
    after = {r.title: r.id for r in list(Index.open(tmp_path / "idx"))}
    assert before == after and report.added == 0 and report.removed == 0


def test_filters_and_modes(tmp_path, page, fake_encoder):
    refsearch.build([page.parent], tmp_path / "idx")
    index = Index.open(tmp_path / "idx")
    hits = index.search("GPU", k=5, mode="lexical", filters=Filters(topic="gpus"))
    assert [h.ref.title for h in hits] == ["MIG"]
    with pytest.raises(NoMatch, match="no topic contains 'nothing-like-this'"):
        index.search("GPU", k=5, filters=Filters(topic="nothing-like-this"))


def test_truncated_file_is_detected(tmp_path, page, fake_encoder):
    refsearch.build([page.parent], tmp_path / "idx")
    generation = store.current_generation(tmp_path / "idx")
    vectors = generation / "vectors.npy"
    vectors.write_bytes(vectors.read_bytes()[:100])
    with pytest.raises(IndexProblem, match="build --force"):
        Index.open(tmp_path / "idx")


def test_corrupted_vectors_found_by_status_and_not_reused_by_a_build(tmp_path, page, fake_encoder):
    """Queries check sizes only (no hashing per query); status and builds verify checksums."""
    refsearch.build([page.parent], tmp_path / "idx")
    vectors = store.current_generation(tmp_path / "idx") / "vectors.npy"
    data = bytearray(vectors.read_bytes())
    data[-5] ^= 1
    vectors.write_bytes(bytes(data))
    assert len(Index.open(tmp_path / "idx")) == 3
    with pytest.raises(IndexProblem, match="checksum"):
        refsearch.status(tmp_path / "idx")
    fake_encoder.encoded.clear()
    page.write_text(PAGE + "- [New](https://new.io) - one more\n", encoding="utf-8")
    report = refsearch.build([page.parent], tmp_path / "idx")
    assert len(fake_encoder.encoded) == 4 and "previous index damaged" in report.notes[0]
    refsearch.status(tmp_path / "idx")


def test_other_schema_version_refused(tmp_path, page, fake_encoder):
    refsearch.build([page.parent], tmp_path / "idx")
    manifest_path = store.current_generation(tmp_path / "idx") / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["schema_version"] = 99
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexProblem, match="schema version 99"):
        Index.open(tmp_path / "idx")


def test_force_rebuild_repairs_damage(tmp_path, page, fake_encoder):
    refsearch.build([page.parent], tmp_path / "idx")
    (store.current_generation(tmp_path / "idx") / "records.jsonl").write_text("garbage")
    refsearch.build([page.parent], tmp_path / "idx", force=True)
    assert len(Index.open(tmp_path / "idx")) == 3


def test_old_generations_are_collected(tmp_path, page, fake_encoder):
    for extra in range(4):
        page.write_text(PAGE + f"- [Extra {extra}](https://x.io/{extra}) - more\n", encoding="utf-8")
        refsearch.build([page.parent], tmp_path / "idx")
    generations = sorted(p.name for p in (tmp_path / "idx").glob("gen-*"))
    assert len(generations) == 2
    assert (tmp_path / "idx" / "CURRENT").read_text() == generations[-1]


def test_build_without_sources_refreshes_a_named_index_from_its_own_sources(tmp_path, page, fake_encoder):
    """`refsearch build --index DIR` updates DIR from what it was built from, never the bundled data."""
    from typer.testing import CliRunner

    from refsearch.cli import app

    refsearch.build([page.parent], tmp_path / "idx")
    page.write_text(PAGE.replace("GPU 切片调度", "GPU 切片"), encoding="utf-8")
    result = CliRunner().invoke(app, ["build", "--index", str(tmp_path / "idx")])
    assert result.exit_code == 0, result.output
    assert "3 references (0 added / 1 changed / 0 removed / 2 unchanged)" in result.stdout
    missing = CliRunner().invoke(app, ["build", "--index", str(tmp_path / "nothing")])
    assert missing.exit_code == 1 and "no index here to update" in missing.stderr
