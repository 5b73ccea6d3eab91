"""The GPU recipe end to end: data build -> train configs/gpu.yaml -> evaluate -> export.

Runs each stage as a ``commentmod`` subprocess in a scratch directory and copies back to ``--out``
what the run says about itself, never its weights::

    OUT/metrics.json  EVALUATION.md  MODEL_CARD.md    (commentmod evaluate, test split)
    OUT/train_log.jsonl  commentmod_run.json           (per-evaluation log; run info: thresholds,
                                                        precision, rows, history)
    OUT/commentmod.json                                (the exported artifact's manifest)
    OUT/logs/<stage>.log                               (each stage's stdout + stderr)
    OUT/gpu_run.json                                   (seconds per stage, device, total)

On a machine with a CUDA GPU (the recipe must finish within 8 minutes on one large data-centre GPU)::

    .venv/bin/python benchmarks/gpu_run.py --out results/gpu

Without one it refuses, unless ``--allow-cpu`` (the test runs it that way with a tiny base encoder,
a tiny config and the starter corpus)::

    .venv/bin/python benchmarks/gpu_run.py --out /tmp/o --allow-cpu --base TINY --config tiny.yaml \\
        --sources starter --max-steps 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BUDGET_SECONDS = 8 * 60
# (file in the scratch dir, name in --out)
COPIES = (
    ("report/metrics.json", "metrics.json"),
    ("report/EVALUATION.md", "EVALUATION.md"),
    ("run/MODEL_CARD.md", "MODEL_CARD.md"),
    ("run/train_log.jsonl", "train_log.jsonl"),
    ("run/commentmod_run.json", "commentmod_run.json"),
    ("artifact/commentmod.json", "commentmod.json"),
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for metrics, card, logs (no weights)")
    p.add_argument("--config", type=Path, default=REPO / "configs" / "gpu.yaml", help="training config")
    p.add_argument("--catalog", type=Path, default=REPO / "configs" / "data.yaml", help="data catalog")
    p.add_argument(
        "--base", type=Path, default=REPO / "artifacts" / "base-e5", help="base encoder (built if missing)"
    )
    p.add_argument("--data-root", default=None, help="dataset folders (default: the catalog's rule)")
    p.add_argument("--sources", default=None, help="comma-separated sources (default: all in the catalog)")
    p.add_argument("--max-steps", type=int, default=None, help="cap training steps (tests)")
    p.add_argument("--work", type=Path, default=None, help="scratch dir (default: a temporary one, removed)")
    p.add_argument("--allow-cpu", action="store_true", help="run without a CUDA GPU (tests, tiny model)")
    return p.parse_args(argv)


def device_facts() -> dict[str, Any]:
    import torch

    facts: dict[str, Any] = {"torch": torch.__version__, "host": platform.node(), "cuda": False}
    if torch.cuda.is_available():
        facts.update(
            cuda=True,
            gpu=torch.cuda.get_device_name(0),
            bf16=bool(torch.cuda.is_bf16_supported()),
            cuda_version=torch.version.cuda,
        )
    return facts


def run_stage(name: str, cli_args: list[str], log_dir: Path) -> dict[str, Any]:
    """Run ``commentmod CLI_ARGS``, teeing its output into ``log_dir/<name>.log``; seconds and rc."""
    cmd = [sys.executable, "-m", "commentmod.serving.cli", *cli_args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    t0 = time.perf_counter()
    with (log_dir / f"{name}.log").open("w", encoding="utf-8") as log:
        log.write("$ commentmod " + " ".join(cli_args) + "\n")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            sys.stdout.write(f"[{name}] {line}")
        rc = proc.wait()
    seconds = round(time.perf_counter() - t0, 1)
    print(f"[{name}] exit {rc} after {seconds} s", flush=True)
    return {"stage": name, "seconds": seconds, "rc": rc}


def stages(args: argparse.Namespace, work: Path) -> list[tuple[str, list[str]]]:
    data, run, report, artifact = work / "data", work / "run", work / "report", work / "artifact"
    plan: list[tuple[str, list[str]]] = []
    if not (args.base / "config.json").is_file():
        plan.append(("base-model", ["base-model", "--out", str(args.base)]))
    build = ["data", "build", "--config", str(args.catalog), "--out", str(data)]
    if args.data_root:
        build += ["--data-root", args.data_root]
    if args.sources:
        build += ["--sources", args.sources]
    plan.append(("data", build))
    train = ["train", "--config", str(args.config), "--base", str(args.base), "--data", str(data)]
    train += ["--out", str(run), "--no-progress"]
    if args.max_steps is not None:
        train += ["--max-steps", str(args.max_steps)]
    plan.append(("train", train))
    plan.append(
        (
            "evaluate",
            ["evaluate", "--model", str(run), "--data", str(data), "--split", "test", "--out", str(report)],
        )
    )
    export = ["export", "--model", str(run), "--out", str(artifact), "--validation-data", str(data)]
    plan.append(("export", [*export, "--force", "--int8-fallback-fp32"]))
    return plan


def copy_results(work: Path, out: Path) -> list[str]:
    """Copy the small result files back; returns the names that were missing."""
    missing = []
    for src, name in COPIES:
        if (work / src).is_file():
            shutil.copyfile(work / src, out / name)
        else:
            missing.append(name)
    return missing


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    facts = device_facts()
    if not facts["cuda"] and not args.allow_cpu:
        print("error: no CUDA GPU visible to torch; this recipe is for a GPU (pass --allow-cpu to force)")
        return 2
    for name in ("out", "config", "catalog", "base", "work"):
        if getattr(args, name) is not None:
            setattr(args, name, getattr(args, name).resolve())
    out = args.out
    (out / "logs").mkdir(parents=True, exist_ok=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="commentmod-gpu-run-"))
    work.mkdir(parents=True, exist_ok=True)
    plan = stages(args, work)
    t0 = time.perf_counter()
    results: list[dict[str, Any]] = []
    missing: list[str] = []
    try:
        for name, cli_args in plan:
            results.append(run_stage(name, cli_args, out / "logs"))
            if results[-1]["rc"] != 0:
                break
        missing = copy_results(work, out)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    total = round(time.perf_counter() - t0, 1)
    ok = len(results) == len(plan) and all(r["rc"] == 0 for r in results)
    summary = {
        **facts,
        "config": str(args.config),
        "stages": results,
        "total_seconds": total,
        "within_budget": total <= BUDGET_SECONDS,
        "budget_seconds": BUDGET_SECONDS,
        "missing": missing,
        "ok": ok,
    }
    (out / "gpu_run.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: summary[k] for k in ("ok", "total_seconds", "within_budget", "missing")}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
