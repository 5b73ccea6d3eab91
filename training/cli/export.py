"""`commentmod export`: run dir -> verified ONNX artifact (parity + int8 fidelity gates; hybrid when
the run dir has stacker.json)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ...model.errors import CommentmodError

if TYPE_CHECKING:
    from ..export.vocab_prune import VocabSample

log = logging.getLogger("commentmod.export")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `commentmod export`: the model and its gates here, then vocabulary pruning and the
    OpenVINO runtime plans in their own --help groups."""
    parser.add_argument(
        "--model", required=True, type=Path, help="run directory written by `commentmod train`"
    )
    parser.add_argument("--out", required=True, type=Path, help="artifact directory to create")
    parser.add_argument(
        "--int8",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="ship the int8 model as model.onnx (default) after the fidelity gate; --no-int8 ships fp32",
    )
    parser.add_argument(
        "--keep-fp32", action="store_true", help="also keep the fp32 model as model.fp32.onnx"
    )
    parser.add_argument("--name", help="artifact name (default: the run directory's name)")
    parser.add_argument(
        "--validation-data",
        type=Path,
        help="DatasetDict directory (`commentmod data`); its 'validation' split checks int8 flag agreement",
    )
    parser.add_argument(
        "--validation-rows",
        type=int,
        default=5000,
        help="seeded random sample of the validation split for the agreement gate (default 5000)",
    )
    parser.add_argument(
        "--quantize-embeddings",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="store the word embeddings as per-row int8 (about 4x smaller artifact; default on)",
    )
    parser.add_argument(
        "--fuse",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="fuse attention/LayerNorm/GELU with ONNX Runtime's BERT optimizer (faster; default on)",
    )
    parser.add_argument(
        "--int8-max-delta",
        type=float,
        default=0.03,
        help="int8 gate: max |probability difference| vs fp32 on the probe set (default 0.03)",
    )
    parser.add_argument(
        "--int8-min-agreement",
        type=float,
        default=0.99,
        help="int8 gate: min share of equal flagged/not-flagged decisions vs fp32 (default 0.99)",
    )
    parser.add_argument(
        "--hybrid",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="ship the hybrid model (transformer + n-gram stacker) when the run dir has stacker.json "
        "(default); --no-hybrid ships the transformer alone",
    )
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 17, default 17)")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.add_argument(
        "--int8-fallback-fp32",
        action="store_true",
        help="when no int8 plan passes the fidelity gate, ship fp32 with a warning instead of failing",
    )

    _add_pruning_arguments(parser.add_argument_group("vocabulary pruning (--prune-vocab)"))
    _add_runtime_plan_arguments(parser.add_argument_group("OpenVINO runtime plans"))


def _add_pruning_arguments(parser: argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--prune-vocab",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="keep only the word-embedding rows of the tokens a comment sample uses, the special tokens "
        "and the tokenizer's --prune-top-k most probable pieces (smaller artifact, faster load); any other "
        "token scores as <unk>. Default off",
    )
    parser.add_argument(
        "--prune-sample-data",
        type=Path,
        help="DatasetDict directory whose every split (texts + article titles/texts) is the pruning "
        "sample (default: --validation-data)",
    )
    parser.add_argument(
        "--prune-sample-rows",
        type=int,
        default=200_000,
        help="rows of the pruning sample read, a seeded random subset when there are more (default 200000)",
    )
    parser.add_argument(
        "--prune-top-k",
        type=int,
        default=20_000,
        help="most probable tokenizer pieces kept besides the sample's tokens (default 20000)",
    )


def _add_runtime_plan_arguments(parser: argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--openvino-plans",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="with OpenVINO installed, also gate and time OpenVINO bf16 and NNCF int8 runtime plans and "
        "ship the files of those that pass (default); --no-openvino-plans skips them",
    )
    parser.add_argument(
        "--openvino-calibration-windows",
        type=int,
        default=300,
        help="validation windows NNCF calibrates the OpenVINO int8 plan on (default 300)",
    )


def run(args: argparse.Namespace) -> int:
    from ..export.artifact import ExportOptions, export_artifact
    from ..export.probes import load_validation_items
    from ..export.vocab_prune import PruneOptions

    try:
        options = ExportOptions(
            int8=args.int8,
            keep_fp32=args.keep_fp32,
            name=args.name,
            opset=args.opset,
            quantize_embeddings=args.quantize_embeddings,
            int8_max_delta=args.int8_max_delta,
            int8_min_agreement=args.int8_min_agreement,
            fuse=args.fuse,
            force=args.force,
            int8_fallback_fp32=args.int8_fallback_fp32,
            hybrid=args.hybrid,
            openvino_plans=args.openvino_plans,
            openvino_calibration_windows=args.openvino_calibration_windows,
            vocab=PruneOptions(args.prune_vocab, top_k=args.prune_top_k),
        )
        validation = None
        source = ""
        if args.validation_data is not None:
            validation = load_validation_items(args.validation_data, args.validation_rows)
            source = f"{args.validation_data} (validation, seeded random sample of {len(validation)} rows)"
        sample = _vocab_sample(args) if args.prune_vocab else None
        result = export_artifact(args.model, args.out, options, validation, source, sample)
    except CommentmodError as exc:
        log.error("%s: %s", type(exc).__name__, exc)
        return 1
    p = result.parity
    print(f"artifact: {result.directory}  ({result.manifest.quantization}, {result.seconds:.1f}s)")
    print(f"parity  : ONNX fp32 vs PyTorch max |dp| = {p.max_abs_delta:.2e} ({p.label} on {p.probe})")
    h = result.hybrid_parity
    hybrid = result.manifest.extra.get("hybrid")
    if h is None or hybrid is None:
        print("hybrid  : no (transformer only)")
    else:
        print(
            f"hybrid  : Scorer vs Python blend max |dp| = {h.max_abs_delta:.2e} ({h.label} on {h.item}, "
            f"{h.n_items} items)"
        )
        for label, stack in hybrid["per_label"].items():
            print(f"  {label:<10} {stack['mode']:<11} {stack.get('why', '')}")
    for r in result.fidelity:
        verdict = "PASS" if r.passed else "fail"
        print(
            f"int8    : {verdict} {r.plan}: max |dp| = {r.max_abs_delta:.4f} ({r.label} on {r.probe}), "
            f"flag agreement {r.agreement:.2%} on {r.n_agreement_items} ({r.agreement_source})"
        )
    for plan in result.manifest.runtime_plans:
        verdict = "PASS" if plan.passed else "fail"
        speed = "-" if plan.comments_per_s is None else f"{plan.comments_per_s:.1f}"
        print(
            f"runtime : {verdict} {plan.key} ({plan.file}): max |dp| = {plan.max_abs_dp}, flag agreement "
            f"{plan.flag_agreement}, {speed} comments/s  {plan.note}"
        )
    vocab = result.manifest.extra.get("vocab_pruning")
    if vocab:
        print(
            f"vocab   : pruned to {vocab['kept_rows']} of {vocab['vocab_size']} rows "
            f"({vocab['rows_seen_in_sample']} seen in {vocab['sample']['rows']} sample rows)"
        )
    for name, size in sorted(result.sizes.items()):
        print(f"  {name:<18} {size / 1e6:9.2f} MB")
    return 0


def _vocab_sample(args: argparse.Namespace) -> VocabSample:
    """The pruning sample: every split of --prune-sample-data (else --validation-data); empty without."""
    from ..export.vocab_prune import VocabSample, load_sample_items

    data = args.prune_sample_data or args.validation_data
    if data is None:
        return VocabSample((), ())
    items, source = load_sample_items(data, args.prune_sample_rows)
    return VocabSample(items, (source,))
