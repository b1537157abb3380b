"""Topic context: the topics of an index and the references that share one."""

from __future__ import annotations

from dataclasses import dataclass

from .index import Index
from .records import Reference


@dataclass(frozen=True)
class Topic:
    page: str
    path: tuple[str, ...]
    path_en: tuple[str, ...]
    ref_ids: tuple[str, ...]

    @property
    def breadcrumb(self) -> str:
        return " › ".join((self.page, *self.path))

    def to_json(self) -> dict:
        return {"page": self.page, "topic": " › ".join(self.path), "topic_path": list(self.path),
                "topic_en": " › ".join(self.path_en) or None, "count": len(self.ref_ids),
                "ids": list(self.ref_ids)}


def topics(index: Index) -> list[Topic]:
    """Topics in reading order (first appearance), each with its references."""
    grouped: dict[tuple, list[Reference]] = {}
    for ref in index.records:
        grouped.setdefault((ref.page, ref.topic), []).append(ref)
    return [Topic(page, path, refs[0].topic_en, tuple(r.id for r in refs)) for (page, path), refs in grouped.items()]


def siblings(index: Index, ref: Reference) -> list[Reference]:
    return [other for other in index.records
            if other.page == ref.page and other.topic == ref.topic and other.id != ref.id]
