"""The one tokenizer that BM25 documents and queries share, for Chinese and English text alike.

`TOKENIZER` names it: the lexical index records it, so an index built with another one is updated
(state.py), never read with mismatched tokens. No segmentation dictionary (jieba's load takes 0.5 s):
- text is NFKC-normalised and lower-cased (after camelCase names are split: PagedAttention
  yields paged, attention and pagedattention, so "paged attention" finds it);
- runs of CJK characters become overlapping character bigrams (a lone character stays a unigram),
  so a 2-character word such as 切片 matches wherever it occurs;
  Chinese technical terms found in the zh→en glossary (glossary.py) also emit the tokens of their
  English rendering, so "模型注册" meets "model registry" in either language;
- Latin/digit words are Snowball-stemmed (PyStemmer) unless they contain a digit (`k8s`, `cd4ml`,
  `v1`), stop words are dropped, and a hyphenated or dotted name (`multi-instance`, `ray.io`) yields
  its parts and the joined form (`multiinstance`) so either spelling matches.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Iterator

from .glossary import HAN, glossary_matches

TOKENIZER = "refsearch-bm25-tokens@3"

CJK = HAN + "\u3040-\u30ff\uac00-\ud7af"  # Han, kana, Hangul (text.py counts them too)
_FIRST_CJK = "\u3040"  # the lowest character in CJK
_WORD = r"[^\W_]+(?:[-_./+][^\W_]+)*"
_WORD_ONLY = re.compile(_WORD)  # for text without CJK: the tokenizer's word alternative alone

STOP_WORDS = frozenset(
    "a an and are as at be by for from has have how i in is it its of on or that the this to was "
    "what when where which who why will with".split()
)


@dataclass(frozen=True)
class QueryTerm:
    """One token of the query and the words the user typed that produced it (for highlighting).

    `weight` < 1 marks a token the query did not contain but a translation of it did.
    """

    token: str
    surface: str
    weight: float = 1.0


def _stemmer():
    import Stemmer  # PyStemmer: C Snowball, imports in under a millisecond

    return Stemmer.Stemmer("english")


_STEM = _stemmer()


_SEPARATOR = re.compile(r"[-_./+]")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z][a-z])")  # PagedAttention -> Paged|Attention; not vLLM, MLflow
_DIGIT = re.compile(r"[0-9]")


@cache
def _cjk_patterns() -> tuple[re.Pattern, re.Pattern]:
    """A CJK run or a word; a CJK run alone. Compiled on first use: the character classes cost ~4 ms
    to compile, which text without CJK (most English queries) never needs."""
    return re.compile(rf"(?P<cjk>[{CJK}]+)|(?P<word>{_WORD})"), re.compile(rf"([{CJK}]+)")


@lru_cache(maxsize=1 << 18)
def _word_tokens(word: str) -> tuple[str, ...]:
    """Tokens of one Latin/digit word. Cached: words repeat (Zipf), and a build tokenizes every
    abstract of a library (184,000 papers: 3 ms a document uncached, most of a build's own time)."""
    parts = [p.lower() for chunk in _SEPARATOR.split(word) for p in _CAMEL.split(chunk) if p]
    tokens = [_normalise_word(p) for p in parts]
    if len(parts) > 1:
        tokens.append("".join(parts))
    return tuple(t for t in tokens if t)


def _normalise_word(word: str) -> str:
    if word in STOP_WORDS:
        return ""
    if _DIGIT.search(word):
        return word
    return _STEM.stemWord(word)


def _cjk_pieces(run: str) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(surface, tokens): each character bigram, then the glossary's English for the terms in the run."""
    for gram in [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]:
        yield gram, (gram,)
    for term, english in glossary_matches(run):
        yield term, tuple(token for word in english.split() for token in _word_tokens(word))


def _pieces(text: str) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(surface text, its tokens) in order: the one tokenizer that queries and documents share.
    Text without CJK takes the word pattern alone (the same tokens, no CJK class compiled)."""
    text = unicodedata.normalize("NFKC", text)
    if not text or max(text) < _FIRST_CJK:
        return ((word.lower(), _word_tokens(word)) for word in _WORD_ONLY.findall(text))
    return _mixed_pieces(text)


def _mixed_pieces(text: str) -> Iterator[tuple[str, tuple[str, ...]]]:
    token, scripts = _cjk_patterns()
    for match in token.finditer(text):
        if match.group("cjk"):
            yield from _cjk_pieces(match.group("cjk"))
            continue
        word = match.group("word")
        if not scripts.search(word):
            yield word.lower(), _word_tokens(word)
            continue
        # a word glued to CJK ("GPU切片") is split by the regex already; mixed scripts inside a \w
        # run (rare) are split here so CJK parts still get bigrams
        for piece in scripts.split(word):
            if piece and scripts.match(piece):
                yield from _cjk_pieces(piece)
            elif piece:
                yield piece.lower(), _word_tokens(piece)


def query_terms(text: str) -> list[QueryTerm]:
    """Tokens with the surface text they came from, in order (duplicates kept)."""
    return [QueryTerm(token, surface) for surface, tokens in _pieces(text) for token in tokens]


def tokenize(text: str) -> list[str]:
    return [token for _, tokens in _pieces(text) for token in tokens]
