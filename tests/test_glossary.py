import re

import pytest

from refsearch.glossary import GLOSSARY_PATH, english_for, parse_glossary, translate_query

HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def _entry_lines():
    for number, line in enumerate(GLOSSARY_PATH.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            yield number, line


def test_every_entry_line_has_exactly_one_tab_and_two_non_empty_sides():
    for number, line in _entry_lines():
        assert line.count("\t") == 1, f"line {number}: {line!r}"
        chinese, english = line.split("\t")
        assert chinese.strip() and english.strip(), f"line {number}: {line!r}"


def test_no_duplicate_chinese_keys():
    keys = [line.split("\t")[0].strip() for _, line in _entry_lines()]
    duplicates = {key for key in keys if keys.count(key) > 1}
    assert not duplicates


def test_english_side_has_no_chinese_and_keys_are_chinese_only():
    for number, line in _entry_lines():
        chinese, english = line.split("\t")
        assert not HAN.search(english), f"line {number}: {line!r}"
        assert all(HAN.match(ch) for ch in chinese.strip()), f"line {number}: {line!r}"


def test_glossary_size_is_within_the_curated_range():
    assert 300 <= len(parse_glossary(GLOSSARY_PATH.read_text(encoding="utf-8"))) <= 600


@pytest.mark.parametrize("bad", [
    "模型 model",         # no tab
    "模型\t",             # empty English side
    "\tmodel",            # empty Chinese side
    "模型\tmodel\textra",  # two tabs
    "模型\t模型",          # Chinese on the English side
    "GPU显存\tGPU memory",  # key not Chinese-only: could never match inside a CJK run
    "模型\tmodel\n模型\tmodels",  # duplicate key
])
def test_malformed_lines_are_refused_with_their_line_number(bad):
    with pytest.raises(ValueError, match=r"t\.tsv:\d+"):
        parse_glossary("# header\n" + bad, "t.tsv")


def test_comments_and_blank_lines_are_skipped():
    assert parse_glossary("# topic\n\n模型\tmodel\n") == {"模型": "model"}


def test_longest_match_wins_over_its_parts():
    assert english_for("特征存储的开山之作") == ["feature store", "seminal original"]


def test_matches_are_leftmost_in_text_order_and_deduplicated():
    assert english_for("模型注册中心") == ["model", "registry"]
    assert english_for("模型训练与模型推理") == ["model", "training", "inference"]


def test_longer_key_is_not_split_by_a_shorter_prefix():
    assert english_for("数据集成") == ["data integration"]
    assert english_for("推理服务器") == ["inference", "server"]


def test_each_cjk_run_is_matched_separately():
    # 显存 must not be formed across the Latin text between 显 and 存.
    assert english_for("GPU 切片调度") == ["slicing partition", "scheduling"]
    assert english_for("显 x 存") == []


def test_text_without_glossary_terms_gives_nothing():
    assert english_for("vLLM PagedAttention") == []
    assert english_for("的") == []


def test_translate_query_appends_english_to_chinese():
    assert translate_query("推测解码") == "推测解码 speculative decoding"
    assert translate_query("GPU 显存 优化") == "GPU 显存 优化 GPU memory optimization"


def test_translate_query_leaves_english_and_unknown_chinese_untouched():
    assert translate_query("feature store drift detection") == "feature store drift detection"
    assert translate_query("") == ""
    assert translate_query("猛猿") == "猛猿"
