"""How much one answer holds, and how to ask for the rest.

A flat library of 2,470 papers has one topic of 2,470 references: `show` listed every sibling
(5,642 lines) and the MCP `show` returned half a million characters, enough to swamp an assistant.
So every list in an answer is a window: at most a few items, with how many there are in all and
the offset of the next window (`page_json`), and each surface says how to ask for it (the CLI prints
the command, the MCP tools' descriptions name the parameter). A server's answer also fits a
character budget (`fit`): long fields are cut, saying by how much, and trailing results are left
for the next page.
"""

from __future__ import annotations

import json
from typing import Any


CONTEXT_SHOWN = 3  # `search --context`: the other references of each hit's topic
TOPIC_REFS_SHOWN = 20  # `topics --format md`: references listed under each topic
ANSWER_CHARS = 25_000  # a server's answer (MCP, HTTP), as JSON: a few percent of an assistant's context
FIELD_CHARS = 4_000  # a text field of a reference in a server's answer (an abstract is rarely longer)
LIST_ITEMS = 20  # authors, tags, places found: items of a list field in a server's answer


def after(found: list, offset: int, k: int) -> tuple[list, int | None]:
    """Of a ranking asked for `offset + k` items: the window from `offset` on, and the next window's
    offset (None when the ranking ran out: it gave fewer than asked for)."""
    return found[offset:], offset + k if len(found) == offset + k else None


def page_json(total: int, offset: int, shown: int) -> dict[str, Any]:
    """Where a window sits in its list: `next_offset` is None on the last window."""
    following = offset + shown
    return {"total": total, "offset": offset, "shown": shown,
            "next_offset": following if following < total else None}


def more_text(total: int, offset: int, shown: int, command: str) -> str | None:
    """The line a terminal prints under a window that is not the last: how many more, and the
    command that shows the next ones (`command` ends where its offset goes)."""
    following = offset + shown
    if following >= total:
        return None
    return f"… {total - following} more: {command} --offset {following}"


def fit(answer: dict[str, Any], items: str, page: str = "page", budget: int = ANSWER_CHARS) -> dict[str, Any]:
    """`answer` within `budget` characters of JSON: every reference in it trimmed (`trim`), then
    the list `answer[items]` shortened from the end until it fits (at least one item stays), its
    window (`answer[page]`, `page_json`) saying where the next one starts."""
    answer = trim(answer, keep=items)
    answer[items] = [trim(item) for item in answer[items]]
    sizes = [_size(item) + 2 for item in answer[items]]
    room = budget - _size({**answer, items: [], page: {**page_json(10**9, 10**9, 10**9), "cut_to_fit": True}})
    kept = len(sizes)
    while kept > 1 and sum(sizes[:kept]) > room:
        kept -= 1
    if kept < len(sizes):
        window = answer.get(page) or {"offset": 0}
        answer[items] = answer[items][:kept]
        answer[page] = {**window, "shown": kept, "next_offset": window["offset"] + kept, "cut_to_fit": True}
    return answer


def trim(data: dict[str, Any], keep: str | None = None) -> dict[str, Any]:
    """A reference's JSON (or any object) with each text over FIELD_CHARS cut and each list over
    LIST_ITEMS shortened, and `<field>_cut` saying how long it was (`keep`: a list left whole)."""
    trimmed = {}
    for key, value in data.items():
        if key == keep:
            trimmed[key] = value
        elif isinstance(value, str) and len(value) > FIELD_CHARS:
            trimmed[key] = value[:FIELD_CHARS].rsplit(" ", 1)[0] + " …"
            trimmed[f"{key}_cut"] = {"characters": len(value)}
        elif isinstance(value, dict):
            trimmed[key] = trim(value)
        elif isinstance(value, list) and len(value) > LIST_ITEMS:
            trimmed[key] = [_trim_value(item) for item in value[:LIST_ITEMS]]
            trimmed[f"{key}_cut"] = {"items": len(value)}
        else:
            trimmed[key] = _trim_value(value)
    return trimmed


def _trim_value(value: Any) -> Any:
    """A value nested in a field (a source's extra fields): cut as `trim` cuts, without saying so."""
    if isinstance(value, dict):
        return {key: _trim_value(item) for key, item in list(value.items())[:LIST_ITEMS]}
    if isinstance(value, list):
        return [_trim_value(item) for item in value[:LIST_ITEMS]]
    if isinstance(value, str) and len(value) > FIELD_CHARS:
        return value[:FIELD_CHARS] + " …"
    return value


def _size(data: Any) -> int:
    return len(json.dumps(data, ensure_ascii=False))
