import pytest
import numpy as np
from hypothesis import given, settings, strategies as st

from refsearch.lexical import BM25Index
from refsearch.tokenizer import query_terms, tokenize


def test_chinese_two_character_words_match_inside_longer_runs():
    assert "切片" in tokenize("GPU 切片调度")
    assert tokenize("切片")[0] == "切片"
    assert tokenize("猛") == ["猛"]


def test_chinese_glued_to_latin_is_split():
    assert tokenize("GPU切片")[:2] == ["gpu", "切片"]


def test_glossary_bridges_chinese_to_english_tokens():
    assert {"model", "registri"} <= set(tokenize("模型注册中心"))
    assert set(tokenize("model registry")) <= set(tokenize("模型注册中心"))


def test_english_plurals_and_case_fold():
    assert tokenize("Models") == tokenize("model")
    assert tokenize("Feature Stores") == tokenize("feature store")


def test_technical_tokens_survive():
    assert tokenize("CD4ML K8s vLLM") == ["cd4ml", "k8s", "vllm"]
    tokens = tokenize("Multi-Instance")
    assert {"multi", "multiinstance"} <= set(tokens)


def test_stop_words_dropped():
    assert tokenize("the state of the art") == ["state", "art"]


def test_query_terms_keep_surface_for_highlighting():
    terms = query_terms("GPU slicing")
    assert [t.surface for t in terms] == ["gpu", "slicing"]


def _index():
    return BM25Index.build([
        [("NVIDIA Multi-Instance GPU (MIG)", 2.0), ("GPU 切片调度", 1.0)],
        [("NVIDIA Triton Inference Server", 2.0), ("GPU serving 标准", 1.0)],
        [("KServe Documentation", 2.0), ("Kubernetes ML serving 标准", 1.0)],
    ])


def test_bm25_ranks_rare_term_first_and_reports_matches():
    hits = _index().search("GPU 切片", depth=10)
    assert hits.doc_ids.tolist()[0] == 0
    assert set(hits.matched[0]) == {"gpu", "切片"}
    assert 2 not in hits.doc_ids.tolist()


def test_bm25_mask_applies_before_cut():
    import numpy as np

    hits = _index().search("GPU", depth=1, allowed=np.array([False, True, True]))
    assert hits.doc_ids.tolist() == [1]


def test_bm25_round_trips_through_files(tmp_path):
    index = _index()
    index.save(tmp_path)
    loaded = BM25Index.load(tmp_path)
    assert loaded.search("serving", 10).doc_ids.tolist() == index.search("serving", 10).doc_ids.tolist()


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_tokenizer_never_fails_and_never_yields_empty_tokens(text):
    assert all(tokenize(text))


def test_camel_case_names_match_spaced_words():
    assert {"page", "attent", "pagedattention"} <= set(tokenize("PagedAttention"))
    assert set(tokenize("paged attention")) <= set(tokenize("PagedAttention"))
    assert tokenize("vLLM") == ["vllm"] and tokenize("MLflow") == ["mlflow"]


def test_ceiling_counts_every_query_term_including_unmatchable_ones():
    index = BM25Index.build([[("kserve serving", 1.0)], [("feast feature store", 1.0)]])
    known = index.search("kserve", depth=5).ceiling
    assert known == pytest.approx(float(index.idf[index.term_id("kserv")]))
    with_unknown = index.search("kserve zeppelin", depth=5)
    assert with_unknown.ceiling == pytest.approx(known + index.unseen_idf)
    assert with_unknown.scores[0] < with_unknown.ceiling / 2


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(max_codepoint=0x303F), max_size=60))
def test_text_without_cjk_takes_the_short_path_to_the_same_tokens(text):
    """Text below the first CJK character skips the CJK patterns: it must tokenize as the full
    pattern would (a change here would silently split indexes and queries apart)."""
    import unicodedata

    from refsearch.tokenizer import _mixed_pieces, _pieces

    normalized = unicodedata.normalize("NFKC", text)
    assert list(_pieces(text)) == list(_mixed_pieces(normalized))


_WORDS = st.lists(st.sampled_from(["gpu", "slicing", "raft", "consensus", "向量", "检索", "queue", "zebra"]), max_size=6)


@settings(max_examples=200, deadline=None)
@given(st.lists(_WORDS, min_size=1, max_size=12), st.data(), st.booleans())
def test_an_index_that_takes_documents_over_is_the_one_built_from_scratch(old_texts, data, bisected):
    """Documents taken over (some dropped, in order or not) with new ones among them: the merged
    postings, frequencies and vocabulary are those of a build from scratch, bit for bit."""
    from refsearch import lexical
    from refsearch.lexical import BM25Builder

    old = BM25Index.build([[(" ".join(words), 1.0)] for words in old_texts])
    kept = data.draw(st.lists(st.integers(0, len(old_texts) - 1), unique=True))
    if data.draw(st.booleans()):
        kept.sort()
    plan = [("old", row) for row in kept] + [("new", words) for words in data.draw(st.lists(_WORDS, max_size=4))]
    plan = data.draw(st.permutations(plan)) if data.draw(st.booleans()) else plan
    builder, texts = BM25Builder(), []
    builder.take_over(old)
    for kind, value in plan:
        if kind == "old":
            builder.add_kept([value])
            texts.append(old_texts[value])
        else:
            builder.add([(" ".join(value), 1.0)])
            texts.append(value)
    few, lexical.FEW_NEW_POSTINGS = lexical.FEW_NEW_POSTINGS, (50_000 if bisected else 0)
    try:
        merged = builder.finish()
    finally:
        lexical.FEW_NEW_POSTINGS = few
    scratch = BM25Index.build([[(" ".join(words), 1.0)] for words in texts])
    assert [merged.terms[i] for i in range(len(merged.terms))] == [scratch.terms[i] for i in range(len(scratch.terms))]
    for name in ("term_ptr", "doc_ids", "frequencies", "lengths", "idf"):
        assert np.array_equal(getattr(merged, name), getattr(scratch, name)), name
