"""Where things are by default, and the optional config file (`refsearch.yaml`).

Lookup order for each setting: command-line option, environment (`REFSEARCH_INDEX`), the config
file (`$REFSEARCH_CONFIG`, else `./refsearch.yaml`), then the built-in default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import RefsearchError, SourceError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BUNDLED_SOURCES = PROJECT_ROOT / "data" / "refs"
KEYS = ("model", "index", "sources", "encoder")


@dataclass(frozen=True)
class Config:
    model: str | None = None
    index: Path | None = None
    sources: tuple[Path, ...] = ()
    encoder: str = "onnx"

    @property
    def index_dir(self) -> Path:
        if os.environ.get("REFSEARCH_INDEX"):
            return Path(os.environ["REFSEARCH_INDEX"]).expanduser()
        if self.index:
            return self.index
        return PROJECT_ROOT / "index" if BUNDLED_SOURCES.is_dir() else Path("index")

    def default_sources(self) -> list[Path]:
        if self.sources:
            return list(self.sources)
        if BUNDLED_SOURCES.is_dir():
            return [BUNDLED_SOURCES]
        raise RefsearchError("no SOURCES given and no bundled data found; name the pages to index.")


def load_config() -> Config:
    path = Path(os.environ.get("REFSEARCH_CONFIG", "refsearch.yaml"))
    if not path.is_file():
        if "REFSEARCH_CONFIG" in os.environ:
            raise RefsearchError(f"REFSEARCH_CONFIG={path}: no such file.")
        return Config()
    import yaml

    try:
        data = yaml.safe_load(path.read_text("utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        line = getattr(getattr(error, "problem_mark", None), "line", None)
        raise SourceError(path, line + 1 if line is not None else None, f"unreadable config ({error.__class__.__name__})") from None
    if not isinstance(data, dict) or set(data) - set(KEYS):
        raise SourceError(path, None, f"config must be a mapping with keys among {', '.join(KEYS)}")
    base = path.resolve().parent
    sources = data.get("sources") or []
    if isinstance(sources, str):
        sources = [sources]
    return Config(
        model=data.get("model"),
        index=(base / Path(data["index"]).expanduser()) if data.get("index") else None,
        sources=tuple(base / Path(s).expanduser() for s in sources),
        encoder=data.get("encoder", "onnx"),
    )


def cache_root() -> Path:
    """$REFSEARCH_CACHE, else $XDG_CACHE_HOME/refsearch, else ~/.cache/refsearch (ONNX exports, eval indexes)."""
    if os.environ.get("REFSEARCH_CACHE"):
        return Path(os.environ["REFSEARCH_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "refsearch"
