"""Query translation both ways with CC-CEDICT, choosing senses the index can actually use.

Why: the encoder is English-only and BM25 matches only identical tokens, so "在终端里显示进度条"
finds neither tqdm ("progress bar") nor mpb, and "memory leak while training" misses a page titled
"显存泄露问题". The hand glossary (glossary.py) bridges ~600 technical terms and stays first;
CC-CEDICT (cedict.py) covers the general words around them.

A dictionary gives many senses ("运行": to move along one's course, to function, to operate, to
run); taking them all drowns the query. The choice is made against the index itself:
- Chinese -> English: each Chinese word the glossary does not know (greedy longest match, two or
  more characters, function words skipped) keeps its `ZH_SENSES` best senses of at most three
  words, a sense scoring the mean log document frequency of its words in this index (0 if any
  word is unknown there), "(computing)" senses counted 1.5 times. The senses' words join BM25 at
  `ZH_WEIGHT` and their text is appended to the query that is embedded.
- English -> Chinese: each English word or two-word phrase maps to the Chinese words whose sense
  it is exactly, best sense first; only words whose every character bigram occurs in the index
  are kept, `EN_WORDS` at most, and their bigrams join BM25 at `EN_WEIGHT` (the embedding model
  cannot read Chinese, so the dense query is left alone).
Translated tokens are other spellings of query words the lexical ceiling already counts, so they
add score but not ceiling. `mode="all"` is the naive baseline kept for measurement: the same words,
but every sense and every candidate at weight 1; `mode="off"` leaves only the glossary.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Protocol

from .cedict import DictionaryMissing, Tables, load_tables
from .cedict_format import COMPUTING
from .glossary import glossary_entries, han_runs, translate_query
from .tokenizer import QueryTerm, query_terms, tokenize

MODES = ("selective", "all", "off")
# Only the start of a long query is translated: the encoder reads its first 256 word pieces anyway,
# and a pasted abstract has enough words of its own for BM25 (100,000 characters took 0.6 s).
MAX_TRANSLATED_CHARS = 4000
ZH_SENSES = 2
ZH_WEIGHT = 0.5
EN_WORDS = 2
EN_WEIGHT = 0.5
MAX_SENSE_TOKENS = 3
COMPUTING_BONUS = 1.5

_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
# words that carry grammar, not meaning; they would only add noise senses ("的": of, target)
FUNCTION_WORDS = frozenset(
    "的 了 是 在 和 与 及 或 把 被 给 让 对 从 到 就 也 都 还 又 很 最 更 吗 呢 吧 啊 呀 之 其 这 那 哪 "
    "一个 一种 一些 一段 这个 那个 这些 那些 哪些 哪种 哪个 什么 怎么 怎样 如何 为什么 为何 有没有 是否 "
    "可以 能够 需要 应该 想要 我们 你们 他们 自己 有人 有关 关于 以及 并且 而且 或者 然后 如果 因为 所以 "
    "时候 之间 里面 上面 下面 进行 一下 出来 起来".split()
)


class Vocabulary(Protocol):
    """What translation needs to know of the index: how many documents hold a lexical token."""

    def document_frequency(self, token: str) -> int: ...


@dataclass
class Translation:
    lexical_terms: list[QueryTerm] = field(default_factory=list)  # extra weighted BM25 tokens
    english: list[str] = field(default_factory=list)  # dictionary English for the dense query

    def dense_query(self, query: str) -> str:
        """The text to embed: glossary English as before, then the dictionary's senses."""
        text = translate_query(query)
        return " ".join([text, *self.english]) if self.english else text


def translate(query: str, vocabulary: Vocabulary, mode: str = "selective") -> Translation:
    if mode not in MODES:
        raise ValueError(f"unknown translation mode {mode!r}")
    if mode == "off":
        return Translation()
    try:
        tables = load_tables()
    except DictionaryMissing:
        return Translation()  # the glossary alone still works
    translation = Translation()
    query = query[:MAX_TRANSLATED_CHARS]
    for run in han_runs(query):
        for word in _segment(run, tables):
            _add_english(translation, word, tables.zh_en.get(word), vocabulary, mode)
    latin = " ".join(_LATIN_WORD.findall(query))
    if latin:
        _add_chinese(translation, tokenize(latin), tables, vocabulary, mode)
    return translation


def _segment(run: str, tables: Tables) -> list[str]:
    """Dictionary words of a Chinese run that the glossary does not cover, leftmost-longest."""
    glossary, glossary_longest = glossary_entries()
    longest = max(tables.longest, glossary_longest)
    words, start = [], 0
    while start < len(run):
        for end in range(min(len(run), start + longest), start, -1):
            piece = run[start:end]
            if piece in glossary:
                break  # the glossary's own English is already in the query
            if end - start >= 2 and piece not in FUNCTION_WORDS and tables.zh_en.get(piece):
                words.append(piece)
                break
        else:
            end = start + 1
        start = end
    return words


def _add_english(translation: Translation, word: str, senses: list[str], vocabulary: Vocabulary,
                 mode: str) -> None:
    if mode == "all":
        chosen = [s.lstrip(COMPUTING) for s in senses]
        weight = 1.0
    else:
        scored = [(score, s.lstrip(COMPUTING)) for s in senses if (score := _sense_score(s, vocabulary)) > 0]
        chosen = [s for _, s in sorted(scored, key=lambda item: -item[0])[:ZH_SENSES]]
        weight = ZH_WEIGHT
    for sense in chosen:
        translation.english.append(sense)
        translation.lexical_terms.extend(QueryTerm(t.token, word, weight) for t in query_terms(sense))


def _sense_score(sense: str, vocabulary: Vocabulary) -> float:
    tokens = tokenize(sense.lstrip(COMPUTING))
    if not tokens or len(tokens) > MAX_SENSE_TOKENS:
        return 0.0
    frequencies = [vocabulary.document_frequency(t) for t in tokens]
    if min(frequencies) == 0:
        return 0.0
    score = sum(math.log1p(f) for f in frequencies) / len(frequencies)
    return score * (COMPUTING_BONUS if sense.startswith(COMPUTING) else 1.0)


def _add_chinese(translation: Translation, tokens: list[str], tables: Tables, vocabulary: Vocabulary,
                 mode: str) -> None:
    position = 0
    while position < len(tokens):
        for width in (2, 1):
            key = " ".join(tokens[position:position + width])
            words = tables.en_zh.get(key) if len(key.split()) == width else []
            if words:
                break
        else:
            width, words = 1, []
        if mode == "all":
            kept, weight = words, 1.0
        else:
            kept = [w for w in words if _known_in_index(w, vocabulary)][:EN_WORDS]
            weight = EN_WEIGHT
        for word in kept:
            translation.lexical_terms.extend(QueryTerm(gram, key, weight) for gram in _bigrams(word))
        position += width


def _known_in_index(word: str, vocabulary: Vocabulary) -> bool:
    return all(vocabulary.document_frequency(gram) > 0 for gram in _bigrams(word))


def _bigrams(word: str) -> list[str]:
    return [word[i:i + 2] for i in range(len(word) - 1)] or [word]

