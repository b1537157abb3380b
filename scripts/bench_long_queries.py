"""Long queries: embed only the first max_seq_length tokens, or average the vectors of all chunks?

Task: SciFact's titles are the index; each query is a whole abstract, and the right answer is its
own paper's title ("find the reference this paragraph is about"). Only abstracts longer than the
encoder's window are used, since shorter ones are encoded whole either way.

    python scripts/bench_long_queries.py ../shared/bench/scifact [-n 600]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="a BEIR folder with corpus.jsonl (title + text)")
    parser.add_argument("-n", type=int, default=600, help="how many of the longest abstracts to query with")
    args = parser.parse_args()

    from tokenizers import Tokenizer

    from refsearch.encoders.export import export_onnx
    from refsearch.encoders.models import resolve_model
    from refsearch.encoders.folder import TOKENIZER_FILE, read_encoder_config
    from refsearch.encoders.onnx import OnnxEncoder

    directory = export_onnx(resolve_model(None))
    encoder = OnnxEncoder(directory)
    window = read_encoder_config(directory)["max_seq_length"] - 2  # [CLS] and [SEP]
    tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
    tokenizer.no_truncation()
    tokenizer.no_padding()

    docs = [json.loads(line) for line in open(args.folder / "corpus.jsonl", encoding="utf-8")]
    titles = encoder.encode([d["title"] for d in docs], batch_size=64)
    lengths = [len(tokenizer.encode(d["text"], add_special_tokens=False).ids) for d in docs]
    chosen = sorted((i for i, n in enumerate(lengths) if n > window), key=lambda i: -lengths[i])[:args.n]
    print(f"{len(docs)} titles indexed; {len(chosen)} abstracts over {window} tokens as queries "
          f"(median {int(np.median([lengths[i] for i in chosen]))} tokens)\n")

    def chunks(text: str) -> list[str]:
        offsets = tokenizer.encode(text, add_special_tokens=False).offsets
        return [text[offsets[s][0]:offsets[min(s + window, len(offsets)) - 1][1]] for s in range(0, len(offsets), window)]

    started = time.perf_counter()
    first = encoder.encode([docs[i]["text"] for i in chosen])
    first_seconds = time.perf_counter() - started
    started = time.perf_counter()
    averaged = np.stack([_normalised(encoder.encode(chunks(docs[i]["text"])).mean(axis=0)) for i in chosen])
    chunk_seconds = time.perf_counter() - started

    print(f"{'query vector':34} {'MRR':>6} {'hit@1':>6} {'hit@10':>7} {'ms/query':>9}")
    for name, vectors, seconds in (("first window (truncated)", first, first_seconds),
                                   ("mean of all windows", averaged, chunk_seconds)):
        ranks = [int((titles @ vector > titles[i] @ vector).sum()) + 1 for vector, i in zip(vectors, chosen)]
        print(f"{name:34} {np.mean([1 / r for r in ranks]):6.3f} {np.mean([r == 1 for r in ranks]):6.3f} "
              f"{np.mean([r <= 10 for r in ranks]):7.3f} {seconds * 1000 / len(chosen):9.1f}")


def _normalised(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


if __name__ == "__main__":
    main()
