"""Where things live, and the optional config file: the one place that decides the default index.

- Default index: `<data dir>/index` (on Linux `~/.local/share/refsearch/index`), so every folder a
  user searches from sees the same index. The data dir is `$REFSEARCH_DATA`, else the platform's
  user data dir (platformdirs).
- Config file: `$REFSEARCH_CONFIG` (must exist), else `./refsearch.yaml`, else
  `<config dir>/config.yaml` (`~/.config/refsearch/config.yaml`). Keys: `index`, `sources`,
  `model`, `encoder`; relative paths are relative to the file.
- Cache (ONNX exports, evaluation indexes): `$REFSEARCH_CACHE`, else the platform's user cache dir.
- Precedence for the index: `--index`, then `$REFSEARCH_INDEX`, then the config's `index`, then the
  default. An index is updated from the sources it was built from, unless the config names
  `sources` for the default (or the config's) index; a default index that does not exist yet is
  built from those, else from the bundled list.
- Precedence for the encoder: `--encoder`, then the config's `encoder` (`resolve_target` puts the
  one asked for in `Target.encoder`), then the one the index was built with, then
  `encoders.DEFAULT_ENCODER` (`build_encoder`, which a build asks).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import RefsearchError, SourceError

APP = "refsearch"
BUNDLED_SOURCES = Path(__file__).resolve().parent / "bundled"
KEYS = ("model", "index", "sources", "encoder")


def data_dir() -> Path:
    return _directory("REFSEARCH_DATA", "user_data_dir")


def cache_root() -> Path:
    return _directory("REFSEARCH_CACHE", "user_cache_dir")


def _directory(variable: str, kind: str) -> Path:
    if os.environ.get(variable):
        return Path(os.environ[variable]).expanduser()
    import platformdirs

    return Path(getattr(platformdirs, kind)(APP, appauthor=False))


def default_index_dir() -> Path:
    return data_dir() / "index"


@dataclass(frozen=True)
class Config:
    """The config file's settings (all optional). `index` may name several indexes (a list): then
    commands that search answer across them (libraries.py), and `indexes` holds them."""

    model: str | None = None
    index: Path | None = None
    sources: tuple[Path, ...] = ()
    encoder: str | None = None
    indexes: tuple[Path, ...] = ()


def configured_set() -> tuple[Path, ...]:
    """The indexes the config file names as a set (`index: [a, b]`), unless $REFSEARCH_INDEX names one."""
    if os.environ.get("REFSEARCH_INDEX"):
        return ()
    return load_config().indexes


def index_paths(given) -> list[str] | None:
    """The indexes a command names as a list (`--index` repeated, `refsearch.open([a, b])`), or,
    when it names none, the set the config file names; None: one index, the one `resolve_target`
    finds. The API and the servers both ask here, then answer from one index or several."""
    if isinstance(given, (list, tuple)) and given:
        return [str(path) for path in given]
    if given is None or isinstance(given, (list, tuple)):
        return [str(path) for path in configured_set()] or None
    return None  # one path, even an empty one (resolve_target says what is wrong with it)


@dataclass(frozen=True)
class Target:
    """The index a command works on and what it is built from.

    `sources` None means "the sources it was built from", recorded in the index itself; `first`
    is what a missing index is built from (None: a missing index is an error).
    """

    index: Path
    sources: tuple[Path, ...] | None
    first: tuple[Path, ...] | None
    model: str | None
    encoder: str | None


def resolve_target(index: Path | str | None = None, model: str | None = None,
                   encoder: str | None = None) -> Target:
    config = load_config()
    model, encoder = model or config.model, encoder or config.encoder
    named = index if index is not None else os.environ.get("REFSEARCH_INDEX") or None  # empty: unset
    if named is not None:
        return Target(_index_path(named), None, None, model, encoder)
    if config.index is not None:
        return Target(config.index, config.sources or None, config.sources or None, model, encoder)
    return Target(default_index_dir(), config.sources or None, config.sources or (BUNDLED_SOURCES,), model, encoder)


def build_encoder(asked: str | None, recorded: str | None) -> str:
    """The encoder a build embeds with: the one asked for (`Target.encoder`), else the one the index
    was built with (`recorded`: an update keeps it), else the default."""
    from .encoders import DEFAULT_ENCODER

    return asked or recorded or DEFAULT_ENCODER


def _index_path(value: Path | str) -> Path:
    if not str(value).strip():
        raise RefsearchError("--index is empty; give the index directory (or leave it out for the default).")
    return Path(value).expanduser()


def config_path() -> Path | None:
    if "REFSEARCH_CONFIG" in os.environ:
        path = Path(os.environ["REFSEARCH_CONFIG"]).expanduser()
        if not path.is_file():
            raise RefsearchError(f"REFSEARCH_CONFIG={path}: no such file.")
        return path
    for path in (Path("refsearch.yaml"), _directory("REFSEARCH_CONFIG_DIR", "user_config_dir") / "config.yaml"):
        if path.is_file():
            return path
    return None


def load_config() -> Config:
    path = config_path()
    if path is None:
        return Config()
    import yaml

    try:
        data = yaml.safe_load(path.read_text("utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        line = getattr(getattr(error, "problem_mark", None), "line", None)
        raise SourceError(path, line + 1 if line is not None else None,
                          f"unreadable config ({error.__class__.__name__})") from None
    if not isinstance(data, dict) or set(data) - set(KEYS):
        raise SourceError(path, None, f"config must be a mapping with keys among {', '.join(KEYS)}")
    base = path.resolve().parent
    sources = data.get("sources") or []
    sources = [sources] if isinstance(sources, str) else sources
    if not isinstance(sources, list) or not all(isinstance(s, str) and s.strip() for s in sources):
        raise SourceError(path, None, "'sources' must be a path or a list of paths")
    indexes = data.get("index") if isinstance(data.get("index"), list) else None
    if indexes is not None and (not indexes or not all(isinstance(i, str) and i.strip() for i in indexes)):
        raise SourceError(path, None, "'index' must be a path or a list of paths")
    index = _text({**data, "index": indexes[0] if indexes else data.get("index")}, "index", path)
    return Config(
        model=_text(data, "model", path),
        index=base / _index_path(index) if index is not None else None,
        sources=tuple(base / Path(s).expanduser() for s in sources),
        encoder=_text(data, "encoder", path),
        indexes=tuple(base / Path(i).expanduser() for i in indexes) if indexes and len(indexes) > 1 else (),
    )


def _text(data: dict, key: str, path: Path) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SourceError(path, None, f"'{key}' must be text, found {type(value).__name__} {value!r:.40}")
    if not value.strip():
        raise SourceError(path, None, f"'{key}' is empty; remove the line or give a value")
    return value
