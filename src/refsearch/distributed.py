"""The embedding stage on Ray Data, for builds larger than one machine embeds in good time.

Every other stage of a build stays on the machine that runs it; only texts go out and float32
vectors come back. The ONNX encoder is held by actors (a callable class in `map_batches`), so each
worker loads it once, not once per batch. The encoder's files travel through Ray's object store,
so workers need refsearch installed but no copy of the model or of the cache. Ray is an optional
extra (`pip install refsearch[ray]`) and is imported only here, inside the function.
"""

from __future__ import annotations

import tempfile
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from refsearch.encoders.folder import read_encoder_config
from refsearch.errors import RefsearchError

# Chunks sent to Ray as one dataset: enough texts to keep every actor busy between the pauses
# where a dataset's actors start (each loads the encoder, ~0.2 s).
CHUNKS_PER_DATASET = 8
# Texts per map_batches call: large enough that Ray's per-batch overhead is small beside the
# encoder's, small enough that an actor's batches spread over the pool.
RAY_BATCH = 256


class _Embedder:
    """The actor: writes the shipped encoder files to a local folder once, then encodes batches."""

    def __init__(self, files, max_seq_length: int | None, threads: int):
        import ray

        from refsearch.encoders.onnx import OnnxEncoder

        self._folder = tempfile.TemporaryDirectory(prefix="refsearch-encoder-")
        for name, data in ray.get(files[0]).items():
            Path(self._folder.name, name).write_bytes(data)
        self._encoder = OnnxEncoder(Path(self._folder.name), threads=threads, max_seq_length=max_seq_length)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"row": batch["row"], "vector": self._encoder.encode(batch["text"].tolist())}


def embed_chunks_on_ray(
    chunks: Iterable[Sequence[str]],
    encoder_dir: Path,
    address: str | None = None,
    max_seq_length: int | None = None,
    threads_per_actor: int = 1,
) -> Iterator[np.ndarray]:
    """Yield one (len(chunk), dimension) float32 array per chunk, in input order.

    `address` is a running cluster's (`ray start --head` prints it; "auto" finds one on this
    machine); without it a local Ray is started and stopped again when the iterator is done.
    Each actor asks Ray for `threads_per_actor` CPUs and runs the encoder with that many threads:
    one thread per actor gets the most documents per second out of a machine's cores.
    """
    try:
        import ray
    except ImportError:
        raise RefsearchError("--ray needs Ray: `pip install 'refsearch[ray]'` (on every machine of the cluster).") from None

    encoder_dir = Path(encoder_dir)
    dimension = read_encoder_config(encoder_dir)["dimension"]
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, logging_level="ERROR", log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RefsearchError(f"cannot reach the Ray cluster at {address!r}: {exc}") from None
    ray.data.DataContext.get_current().enable_progress_bars = False  # the build reports its own progress
    try:
        files = ray.put({p.name: p.read_bytes() for p in sorted(encoder_dir.iterdir()) if p.is_file()})
        chunks = iter(chunks)
        while window := [list(chunk) for chunk in islice(chunks, CHUNKS_PER_DATASET)]:
            vectors = _embed_window(ray, [t for chunk in window for t in chunk], dimension,
                                    files, max_seq_length, threads_per_actor)
            start = 0
            for chunk in window:
                yield vectors[start : start + len(chunk)]
                start += len(chunk)
    finally:
        if started_here:
            ray.shutdown()


def _embed_window(ray, texts: list[str], dimension: int, files, max_seq_length, threads) -> np.ndarray:
    out = np.empty((len(texts), dimension), dtype=np.float32)
    if not texts:
        return out
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    dataset = ray.data.from_items([{"row": row, "text": text} for row, text in enumerate(texts)])
    embedded = dataset.map_batches(
        _Embedder,
        fn_constructor_kwargs={"files": [files], "max_seq_length": max_seq_length, "threads": threads},
        batch_size=RAY_BATCH,
        batch_format="numpy",
        num_cpus=threads,
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=max(1, cpus // threads)),
    )
    for batch in embedded.iter_batches(batch_size=None, batch_format="numpy"):
        out[batch["row"]] = batch["vector"]  # rows carry their position: Ray may finish out of order
    return out
