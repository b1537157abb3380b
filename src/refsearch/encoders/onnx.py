"""The query-path encoder: tokenizers + onnxruntime + numpy, never torch.

It reads an encoder folder (folder.py) written by `refsearch.encoders.export.export_onnx` or the
int8 quantiser. Anything wrong with that folder is an `IndexProblem`, because rebuilding (which
re-exports) is the fix.

onnxruntime (1.29+) records telemetry (a device id and an event database under
`~/.cache/Microsoft`, fsynced on every session) unless `ORT_DISABLE_TELEMETRY=1` is set before it
is first imported; an offline tool sets it, here, before that import.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from refsearch.encoders import ModelSpec
from refsearch.encoders.folder import (CONFIG_FILE, MODEL_FILE, OPTIMIZED_FILE, TOKENIZER_FILE, damaged_encoder,
                                      read_encoder_config)
from refsearch.encoders.models import SentenceTransformersModels
from refsearch.errors import IndexProblem

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

BATCH_TOKENS = 1024  # padded tokens per onnxruntime run (see OnnxEncoder.encode)
TOKENIZE_AT_ONCE = 256


class OnnxEncoder:
    """Encodes with an exported model; batches are sorted by token length to minimise padding."""

    def __init__(self, directory: Path, threads: int | None = None, max_seq_length: int | None = None,
                 prepack: bool = True, lazy: bool = False):
        """`max_seq_length` cuts texts shorter than the export's own limit (never longer: the
        position embeddings end there). all-MiniLM-L6-v2 was trained on 128 tokens, but cutting
        SciFact abstracts there cost dense nDCG@10 0.02 to 0.03 (docs/benchmarks.md, "Scale
        (issue 16): encoder variants"), so builds keep the export's 256.
        `prepack=False` leaves the weights as stored instead of repacking them for the matrix
        kernels: the better bargain for a process that asks one query. int8: the session opens ~10
        ms sooner, each short query encodes ~0.5 ms slower; fp32: open and first encode 58 ms
        against 78 (docs/benchmarks.md, "Speed: queries"). `lazy` creates the session when there is
        first something to encode (an update that only removes references never does)."""
        directory = Path(directory)
        config = read_encoder_config(directory)
        from tokenizers import Tokenizer

        self.model_id: str = config["model_id"]
        self.fingerprint: str = config["fingerprint"]
        self.dimension: int = config["dimension"]
        self._pooling: str = config["pooling"]
        self._normalize: bool = config["normalize"]
        self._input_names: list[str] = config["input_names"]
        try:
            tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        except Exception as exc:  # tokenizers raises a bare Exception for malformed JSON
            raise damaged_encoder(directory, f"cannot load {TOKENIZER_FILE}: {exc}") from None
        self._pad_id = (tokenizer.padding or {}).get("pad_id", 0)
        tokenizer.no_padding()  # padded per batch in _feeds, after sorting by length
        self.max_seq_length: int = min(config["max_seq_length"], max_seq_length or config["max_seq_length"])
        tokenizer.enable_truncation(max_length=self.max_seq_length)
        self._tokenizer = tokenizer

        self._directory, self._config, self._threads, self._prepack = directory, config, threads, prepack
        self._session = None
        if not lazy:
            self._open()

    @property
    def opened(self) -> bool:
        """Whether the session exists (a lazy one: once it had texts to encode)."""
        return self._session is not None

    def _open(self) -> None:
        """Create the onnxruntime session (`lazy`: on the first texts to encode)."""
        import onnxruntime

        from refsearch.files import mapping

        directory, config, threads, prepack = self._directory, self._config, self._threads, self._prepack
        options = onnxruntime.SessionOptions()
        model_file = MODEL_FILE
        # Measured on the default model: EXTENDED creates the session as fast as BASIC and runs
        # ~10% faster; ALL adds nothing on CPU and would tie a saved model to this machine.
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        if config.get("optimized_by") == onnxruntime.__version__ and (directory / OPTIMIZED_FILE).is_file():
            model_file = OPTIMIZED_FILE
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
        options.inter_op_num_threads = 1
        if threads is not None:
            options.intra_op_num_threads = threads
        if threads == 1:  # a query: no pool threads to start, none spinning while the rest of the query runs
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if not prepack:
            options.add_session_config_entry("session.disable_prepacking", "1")
        model: str | bytes = str(directory / model_file)
        if not mapping():
            model, self._weights = _in_memory(directory, model_file, options)
        try:
            self._session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's errors (InvalidProtobuf, Fail, ...) share no base
            raise damaged_encoder(directory, f"onnxruntime cannot load {model_file}: {exc}") from None
        session_inputs = [i.name for i in self._session.get_inputs()]
        if sorted(session_inputs) != sorted(self._input_names):
            raise damaged_encoder(directory, f"{MODEL_FILE} takes {session_inputs}, not {self._input_names}")

    def encode(self, texts: Sequence[str], batch_size: int = 16,
               encoded: Callable[[int], None] | None = None) -> np.ndarray:
        """Vectors of `texts`, in order. A batch holds at most `batch_size` texts and at most
        BATCH_TOKENS padded tokens: 16 abstracts of 256 tokens made onnxruntime peak 340 MB above
        the session, 4 of them 110 MB at the same speed (47 docs/s), while short entries still go
        16 at a time (where batching pays)."""
        texts = list(texts)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        if self._session is None:
            self._open()
        ids, type_ids = [], []
        for start in range(0, len(texts), TOKENIZE_AT_ONCE):  # Encoding objects keep the cut-off tokens
            for encoding in self._tokenizer.encode_batch(texts[start:start + TOKENIZE_AT_ONCE]):
                ids.append(np.array(encoding.ids, dtype=np.int64))
                type_ids.append(np.array(encoding.type_ids, dtype=np.int64))
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]), reverse=True)
        start = 0
        while start < len(order):
            longest = max(1, len(ids[order[start]]))
            rows = order[start:start + max(1, min(batch_size, BATCH_TOKENS // longest))]
            feeds = self._feeds([ids[i] for i in rows], [type_ids[i] for i in rows])
            hidden = self._session.run(None, feeds)[0]
            out[rows] = self._pool(hidden, feeds["attention_mask"])
            start += len(rows)
            if encoded:
                encoded(start)
        return out

    def _feeds(self, ids: list[np.ndarray], type_ids: list[np.ndarray]) -> dict[str, np.ndarray]:
        length = max(1, max(len(row) for row in ids))
        padded = np.full((len(ids), length), self._pad_id, dtype=np.int64)
        types = np.zeros_like(padded)
        mask = np.zeros_like(padded)
        for row, (tokens, kinds) in enumerate(zip(ids, type_ids)):
            n = len(tokens)
            padded[row, :n] = tokens
            types[row, :n] = kinds
            mask[row, :n] = 1
        available = {"input_ids": padded, "attention_mask": mask, "token_type_ids": types}
        return {name: available[name] for name in self._input_names}

    def _pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Pool token states the way sentence-transformers' Pooling module does (right padding)."""
        weights = mask[:, :, None].astype(np.float32)
        if self._pooling == "cls":
            pooled = hidden[:, 0]
        elif self._pooling == "lasttoken":
            last = np.maximum(mask.sum(axis=1) - 1, 0)
            pooled = hidden[np.arange(len(hidden)), last]
        elif self._pooling == "max":
            pooled = np.where(weights > 0, hidden, -np.inf).max(axis=1)
        else:
            summed = (hidden * weights).sum(axis=1)
            counts = np.maximum(weights.sum(axis=1), 1e-9)
            pooled = summed / (counts if self._pooling == "mean" else np.sqrt(counts))
        if self._normalize:
            pooled = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled.astype(np.float32, copy=False)


# The encoder the last build in this process embedded with, by its folder: a one-query process that
# updated its index first (a CLI search on a stale index) asks its query with the session the update
# opened. One at most, and let go by `release_build_encoder` (api.py) once no query can use it: a
# session holds ~100 MB, and a server or a test session builds many times.
_BUILDING: dict[str, "OnnxEncoder"] = {}


def build_encoder_kept() -> bool:
    return bool(_BUILDING)


def release_build_encoder() -> None:
    _BUILDING.clear()


class OnnxBackend(SentenceTransformersModels):
    """The default: export the model to ONNX once, link the export into the index (sharing.py), so
    queries need neither torch nor the model's own files."""

    def encoder_source(self, spec: ModelSpec) -> Path:
        """The encoder directory a build links into the index (exported once per model, cached)."""
        from refsearch.encoders.export import export_onnx

        return export_onnx(spec)

    def for_build(self, spec: ModelSpec, index_dir: Path) -> tuple["OnnxEncoder", dict]:
        from refsearch.encoders.sharing import install_encoder

        name = install_encoder(index_dir, lambda: self.encoder_source(spec))
        files = {p.name: p.stat().st_size for p in sorted((index_dir / name).iterdir())}
        _BUILDING.clear()
        encoder = _BUILDING[str(index_dir / name)] = OnnxEncoder(index_dir / name, lazy=True)
        return encoder, {"encoder_dir": name, "encoder_files": files}

    def for_query(self, index_dir: Path, recorded: dict, model_path: Path | None,
                  one_query: bool = False) -> "OnnxEncoder":
        from refsearch.files import REBUILD, plain_name

        name, files = recorded.get("encoder_dir"), recorded.get("encoder_files")
        if not (isinstance(name, str) and plain_name(name) and isinstance(files, dict)
                and {CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE} <= set(files)
                and all(plain_name(f) and isinstance(size, int) for f, size in files.items())):
            raise IndexProblem(f"{index_dir}: the manifest does not name a query encoder inside the index; {REBUILD}.")
        directory = index_dir / name
        if directory.is_symlink() or not directory.is_dir():
            raise IndexProblem(f"{directory}: query encoder folder is missing or a link; {REBUILD}.")
        # tokenizers and onnxruntime open these files themselves (following links): every file in the
        # folder must be a regular file, whether the manifest lists it (the weights) or not
        for path in directory.iterdir():
            if not stat.S_ISREG(path.lstat().st_mode):
                raise IndexProblem(f"{path}: query encoder file is a link or not a file; {REBUILD}.")
        for file, size in files.items():
            path = directory / file
            if not path.is_file() or path.stat().st_size != size:
                raise IndexProblem(f"{path}: query encoder file is missing or damaged; {REBUILD}.")
        building = _BUILDING.get(str(directory))
        if one_query and building is not None and building.opened:
            return building  # a query right after an update in this process: its session is open already
        # one short text at a time: a thread pool costs more than it saves
        return OnnxEncoder(directory, threads=1, prepack=not one_query)


def _in_memory(directory: Path, model_file: str, options) -> tuple[bytes, np.ndarray]:
    """The graph and its weights read into memory, for a server (files.read_instead_of_mapping):
    onnxruntime maps a model's external weights file, and the fp32 model reads from that map on
    every query, so truncating `model.onnx.data` under a server killed it with SIGBUS. Weights
    handed over as an in-memory file are not mapped (the int8 model's are repacked either way)."""
    from refsearch.files import open_index_file, read_exactly

    weights_file = model_file + ".data"
    files = {}
    for name in (model_file, weights_file):
        with open_index_file(directory / name) as handle:
            files[name] = read_exactly(handle, directory / name, os.fstat(handle.fileno()).st_size)
    weights = np.frombuffer(files[weights_file], dtype=np.uint8)
    options.add_external_initializers_from_files_in_memory([weights_file], [weights], [len(weights)])
    return files[model_file], weights


def save_optimized(directory: Path) -> str:
    """Write OPTIMIZED_FILE (weights beside it) from the directory's model; return the onnxruntime
    version that did, which encoder.json records as `optimized_by`."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(directory / OPTIMIZED_FILE)
    options.add_session_config_entry("session.optimized_model_external_initializers_file_name", OPTIMIZED_FILE + ".data")
    options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    onnxruntime.InferenceSession(str(directory / MODEL_FILE), options, providers=["CPUExecutionProvider"])
    return onnxruntime.__version__
