import json
from dataclasses import replace

import numpy as np
import pytest

from refsearch.fusion import Fusion, Ranking, adaptive_weight, fuse, lexical_coverage


def ranking(ids, scores):
    return Ranking(np.array(ids), np.array(scores, dtype=np.float32))


def test_convex_rewards_agreement():
    dense = ranking([1, 2, 3], [0.9, 0.8, 0.1])
    lexical = ranking([2, 3], [10.0, 1.0])
    fused = fuse(dense, lexical, Fusion("convex", 0.5))
    assert fused[0][0] == 2


def test_dense_weight_one_reproduces_dense_order():
    dense = ranking([1, 2, 3], [0.9, 0.8, 0.1])
    lexical = ranking([3, 2], [10.0, 1.0])
    assert [d for d, _ in fuse(dense, lexical, Fusion("convex", 1.0))][:3] == [1, 2, 3]


def test_rrf_uses_ranks_only():
    dense = ranking([1, 2], [0.99, 0.01])
    lexical = ranking([2, 1], [5.0, 4.9])
    fused = dict(fuse(dense, lexical, Fusion("rrf", 0.5, rrf_k=60)))
    assert abs(fused[1] - fused[2]) < 1e-12


def test_empty_rankings_fuse_to_nothing():
    empty = ranking([], [])
    assert fuse(empty, empty) == []


def test_ceiling_scale_discounts_a_lexical_match_on_one_common_word():
    # the lexical best shares one weak word with the query (score 1 of a possible 10): min-max
    # scaling would count it as a full match and let it beat the dense favourite
    dense = ranking([1, 2], [0.60, 0.50])
    weak = Ranking(np.array([2]), np.array([1.0], dtype=np.float32), ceiling=10.0)
    assert fuse(dense, weak, Fusion("convex", 0.3, scale="minmax"))[0][0] == 2
    assert fuse(dense, weak, Fusion("convex", 0.3, scale="ceiling"))[0][0] == 1
    strong = Ranking(np.array([2]), np.array([9.0], dtype=np.float32), ceiling=10.0)
    assert fuse(dense, strong, Fusion("convex", 0.3, scale="ceiling"))[0][0] == 2


def test_adaptive_weight_moves_from_lexical_to_dense_as_the_match_weakens():
    rule = Fusion("adaptive", 0.2, high=0.8, power=2.0)
    full = Ranking(np.array([5]), np.array([10.0], dtype=np.float32), ceiling=10.0)
    half = Ranking(np.array([5]), np.array([5.0], dtype=np.float32), ceiling=10.0)
    assert adaptive_weight(full, rule) == pytest.approx(0.2)
    assert adaptive_weight(half, rule) == pytest.approx(0.2 + 0.6 * 0.25)
    assert adaptive_weight(ranking([], []), rule) == pytest.approx(0.8)  # nothing matched: trust dense
    assert lexical_coverage(Ranking(np.array([5]), np.array([30.0], dtype=np.float32), ceiling=10.0)) == 1.0


def test_adaptive_fusion_lets_a_complete_name_match_win_and_a_weak_one_lose():
    dense = ranking([1, 2, 3], [0.60, 0.55, 0.10])
    rule = Fusion("adaptive", 0.2, high=0.8, power=2.0)
    exact = Ranking(np.array([3]), np.array([9.5], dtype=np.float32), ceiling=10.0)
    generic = Ranking(np.array([3]), np.array([5.0], dtype=np.float32), ceiling=10.0)  # half the query
    assert fuse(dense, exact, rule)[0][0] == 3
    assert fuse(dense, generic, rule)[0][0] == 1
    # the fixed default lets even the generic match win
    assert fuse(dense, generic, Fusion("convex", 0.3))[0][0] == 3


def test_the_top_of_a_fusion_does_not_depend_on_how_many_candidates_it_was_handed():
    # a search for 100 results hands fusion 500 candidates, one for 10 results 100: a lexical-only
    # match scaled at 0.95 must land at the same place among the dense favourites either way
    dense = ranking(list(range(500)), np.linspace(0.8, 0.2, 500))
    lexical = Ranking(np.array([1000]), np.array([9.5], dtype=np.float32), ceiling=10.0)
    rule = Fusion("convex", 0.5)
    deep = [doc for doc, _ in fuse(dense, lexical, rule)[:10]]
    shallow = [doc for doc, _ in fuse(ranking(dense.doc_ids[:100], dense.scores[:100]), lexical, rule)[:10]]
    assert deep == shallow and 1000 in deep


def test_a_result_scores_the_same_whether_10_or_100_results_are_asked_for(tmp_path, fake_encoder):
    # (a result whose lexical rank is beyond the shallower search's candidates may still gain there)
    import refsearch

    words = "cache queue stream graph tensor kernel shard replica batch token vector index".split()
    rows = [{"title": f"entry {n}", "note": " ".join(words[(n * 7 + i * 3) % len(words)] for i in range(n % 5 + 1))}
            for n in range(300)]
    (tmp_path / "refs.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), "utf-8")
    refsearch.build([tmp_path / "refs.jsonl"], tmp_path / "idx")
    index = refsearch.open(tmp_path / "idx")
    for query in ("cache stream", "tensor kernel shard", "replica", "batch vector index token"):
        deep = {hit.ref.id: hit.score for hit in index.search(query, k=100)}
        shallow = [hit for hit in index.search(query, k=10) if hit.lexical_rank is not None]
        assert len(shallow) >= 5
        for hit in shallow:
            assert deep[hit.ref.id] == pytest.approx(hit.score, abs=1e-6), query


class Facts:
    """Per-document facts as an index stores them (docfeatures.DocumentFeatures), for chosen rows."""

    def __init__(self, unreadable: dict[int, float] | None = None, lists: dict[int, int] | None = None):
        self.unreadable, self.lists = unreadable or {}, lists or {}

    def of_rows(self, rows):
        return (np.array([self.unreadable.get(int(r), 0.0) for r in rows]),
                np.array([float(self.lists.get(int(r), 1)) for r in rows]))


DOCUMENT_AWARE = Fusion("convex", 0.6, readability=1.0, agreement=0.02)


def test_lexical_evidence_stands_in_for_what_the_encoder_cannot_read():
    # an English query; entry 2 is Chinese without a gloss: the encoder ranks it second, BM25
    # (through the query's translation) first with nearly every query word; entry 1 is an English
    # near-miss the encoder likes
    dense = ranking([1, 2, 3, 4], [0.70, 0.50, 0.40, 0.30])  # scaled 1, 0.5, 0.25, 0
    lexical = Ranking(np.array([2, 1]), np.array([9.0, 2.0], dtype=np.float32), ceiling=10.0)
    assert fuse(dense, lexical, DOCUMENT_AWARE)[0][0] == 1  # without the index's facts
    assert fuse(dense, lexical, DOCUMENT_AWARE, Facts())[0][0] == 1  # both readable: as before
    assert fuse(dense, lexical, DOCUMENT_AWARE, Facts({2: 1.0}))[0][0] == 2
    half = dict(fuse(dense, lexical, DOCUMENT_AWARE, Facts({2: 0.5})))
    assert half[2] == pytest.approx(0.6 * (0.5 + 0.5 * (0.9 - 0.5)) + 0.4 * 0.9)
    assert fuse(dense, lexical, replace(DOCUMENT_AWARE, readability=0.0), Facts({2: 1.0}))[0][0] == 1


def test_an_unreadable_document_the_encoder_still_found_keeps_its_dense_score():
    # one-sided: lexical evidence lifts what the model could not read, never lowers what it found
    dense = ranking([2, 1], [0.70, 0.30])
    lexical = Ranking(np.array([1, 2]), np.array([5.0, 1.0], dtype=np.float32), ceiling=10.0)
    plain = dict(fuse(dense, lexical, DOCUMENT_AWARE, Facts()))
    aware = dict(fuse(dense, lexical, DOCUMENT_AWARE, Facts({2: 1.0})))
    assert aware[2] == pytest.approx(plain[2]) and aware[1] == pytest.approx(plain[1])


def test_a_work_in_several_lists_gets_a_small_prior_per_doubling():
    dense = ranking([1, 2, 3], [0.5, 0.5, 0.5])
    lexical = Ranking(np.array([1, 2, 3]), np.array([5.0, 5.0, 5.0], dtype=np.float32), ceiling=10.0)
    fused = dict(fuse(dense, lexical, DOCUMENT_AWARE, Facts(lists={2: 2, 3: 4})))
    assert fused[2] - fused[1] == pytest.approx(0.02) and fused[3] - fused[1] == pytest.approx(0.04)
    assert [doc for doc, _ in fuse(dense, lexical, DOCUMENT_AWARE, Facts(lists={2: 2, 3: 4}))] == [3, 2, 1]
    # small: a clearly better match in one list still wins over a weaker one in four
    better = Ranking(np.array([1, 3]), np.array([7.0, 5.0], dtype=np.float32), ceiling=10.0)
    assert fuse(dense, better, DOCUMENT_AWARE, Facts(lists={3: 4}))[0][0] == 1


def test_rrf_and_plain_convex_fusion_ignore_the_documents_facts():
    dense = ranking([1, 2], [0.70, 0.30])
    lexical = Ranking(np.array([2, 1]), np.array([6.0, 3.0], dtype=np.float32), ceiling=10.0)
    facts = Facts({2: 1.0}, {1: 8})
    for rule in (Fusion("rrf", 0.5), Fusion("convex", 0.6)):
        assert fuse(dense, lexical, rule, facts) == fuse(dense, lexical, rule)
