"""Which text should represent a reference in the dense index? Dense-only MRR/nDCG per text form.

    python scripts/bench_text_forms.py data/eval/bundled.yaml data/eval/corpora.yaml

Each form is embedded with the default model (ONNX encoder) and scored with exact cosine search on
the judged queries of each set (queries get the glossary's English appended, as in search); the
lexical side is not involved.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from refsearch import evaluate
from refsearch.encoders.export import export_onnx
from refsearch.encoders.models import resolve_model
from refsearch.encoders.onnx import OnnxEncoder
from refsearch.glossary import translate_query
from refsearch.records import Reference
from refsearch.text import dense_text


def _join(*parts: str | None) -> str:
    return ". ".join(p.strip() for p in parts if p)


def _topic(ref: Reference) -> str | None:
    topic = ref.topic_en or ref.topic
    return "Topic: " + " / ".join(topic) if topic else None


FORMS = {
    "title": lambda r: r.title,
    "title + note": lambda r: _join(r.title, r.note),
    "title + note_en (else note)": lambda r: _join(r.title, r.note_en or r.note),
    "title + note + note_en": lambda r: _join(r.title, r.note, r.note_en),
    "title + note + note_en + topic": lambda r: _join(r.title, r.note, r.note_en, _topic(r)),
    "… + glossary English of untranslated Chinese (chosen)": dense_text,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sets", type=Path, nargs="+")
    args = parser.parse_args()
    encoder = OnnxEncoder(export_onnx(resolve_model(None)))
    for path in args.sets:
        eval_set = evaluate.load_eval_set(path)
        index = evaluate.open_index(eval_set, say=print)
        queries = evaluate.resolve(eval_set, index)
        query_vectors = encoder.encode([translate_query(q.text) for q in queries])  # as search does
        ids = [r.id for r in index]
        print(f"\n{eval_set.name}: {len(queries)} queries, {len(ids)} references")
        print(f"{'text form':42} {'nDCG@10':>8} {'MRR':>6} {'hit@3':>6}")
        for name, form in FORMS.items():
            docs = encoder.encode([form(r) for r in index], batch_size=64)
            order = np.argsort(-(query_vectors @ docs.T), axis=1)[:, :100]
            summary = evaluate.score(name, queries, [[ids[i] for i in row] for row in order]).summary()
            print(f"{name:42} {summary['ndcg@10']:8.3f} {summary['mrr']:6.3f} {summary['hit@3']:6.3f}")


if __name__ == "__main__":
    main()
