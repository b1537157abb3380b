import json

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
