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
