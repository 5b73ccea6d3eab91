"""``commentmod score`` on Spark (``--engine spark --master local[C]``) vs the single-process CLI on C cores.

Generates N deterministic comments (the languages, sentences and articles of ``bench_scoring.py``;
lognormal lengths, median 3 sentences; 85 % with article context) into one Parquet file, then
scores it twice, each in a fresh process tree pinned to the same C cores (``taskset``):

* ``cli``:   ``commentmod score IN --threads C`` (ONNX Runtime with C threads, one process);
* ``spark``: ``commentmod score --engine spark IN --master local[C]`` (C tasks of 1 CPU each,
  ``--partitions`` 4 per core, driver memory 1g).

For each: wall time end to end, rows/s end to end and, for Spark, rows/s of the scoring job alone
(without the JVM start), peak memory of the whole process tree (sum of PSS: the JVM, the driver and
every Python worker), and the agreement of the two outputs (ids, flags, max score difference: an
int8 artifact's scores depend on the batch a comment is scored in, an fp32 artifact's do not).
Prints a Markdown table (``--json`` writes the numbers too)::

    .venv/bin/python benchmarks/bench_spark.py --n 1000000 --artifact artifacts/full [--cores 2]

Without ``--artifact`` the tiny random model of the tests is built and exported (int8) first: it
measures the engine's overhead, not the model (the real model's speed is in ``docs/scaling.md``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scoring import ARTICLES, LANG_WEIGHTS, SENTENCES

REPO = Path(__file__).resolve().parent.parent
COMMENTMOD = str(Path(sys.executable).parent / "commentmod")
SEED = 20261202
_JOB = re.compile(r"session ([\d.]+) s, job ([\d.]+) s")


def write_comments(path: Path, n: int, seed: int = SEED) -> None:
    """``n`` deterministic comments into one Parquet file (row groups of 50,000)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    langs, weights = zip(*LANG_WEIGHTS.items(), strict=True)
    schema = pa.schema([(c, pa.string()) for c in ("id", "text", "article_title", "article_text")])
    with pq.ParquetWriter(str(path), schema) as writer:
        for start in range(0, n, 50_000):
            rows = []
            for i in range(start, min(n, start + 50_000)):
                lang = rng.choices(langs, weights)[0]
                k = int(min(20, max(1, rng.lognormvariate(math.log(3), 0.6))))
                title, body = rng.choice(ARTICLES) if rng.random() < 0.85 else (None, None)
                text = " ".join(rng.choice(SENTENCES[lang]) for _ in range(k))
                rows.append({"id": f"c{i}", "text": text, "article_title": title, "article_text": body})
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))


def tiny_artifact(workdir: Path) -> Path:
    """The tests' tiny random model, exported with int8 as ``commentmod export`` does."""
    import torch

    from commentmod.model.inputs import ContextRule
    from commentmod.training.base.tiny import build_tiny_encoder
    from commentmod.training.export.artifact import ExportOptions, export_artifact
    from commentmod.training.fit.modeling import CommentClassifier, RunInfo

    base = build_tiny_encoder(workdir / "tiny-base")
    torch.manual_seed(0)
    rule = ContextRule(max_length=64, min_context_tokens=8, max_context_tokens=24, stride=8)
    sources = [{"name": "handmade-test", "licence": "CC-BY-4.0", "rows": 10, "commercial_ok": True}]
    info = RunInfo(context_rule=rule, base_model="tiny", data_sources=sources)
    CommentClassifier.from_base(base).save(workdir / "tiny-run", base / "tokenizer.json", info)
    export_artifact(workdir / "tiny-run", workdir / "tiny", ExportOptions(name="tiny"))
    return workdir / "tiny"


# --------------------------------------------------------------------------- memory of a process tree


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeMemory(threading.Thread):
    """Peak of the summed PSS of a process and all its descendants, sampled every ``interval`` s."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_kb = pid, interval, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            tree, todo, total = _children(), [self.pid], 0
            while todo:
                pid = todo.pop()
                total += _pss_kb(pid)
                todo.extend(tree.get(pid, []))
            self.peak_kb = max(self.peak_kb, total)
            self.done.wait(self.interval)


def run_measured(command: list[str], cores: int) -> dict[str, Any]:
    """Wall time, peak tree memory and stderr of ``command`` pinned to the first ``cores`` CPUs."""
    pinned = ["taskset", "-c", f"0-{cores - 1}", *command] if shutil.which("taskset") else command
    start = time.perf_counter()
    proc = subprocess.Popen(pinned, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    memory = TreeMemory(proc.pid)
    memory.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    memory.done.set()
    memory.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}):\n{err[-3000:]}")
    return {"wall_s": wall, "peak_mb": memory.peak_kb / 1024, "stderr": err + out}


# --------------------------------------------------------------------------- the two paths


def compare(cli_out: Path, spark_out: Path) -> dict[str, Any]:
    """Same ids, share of rows with the same flags, largest score difference (columns only, by id)."""
    import numpy as np
    import pyarrow.dataset as ds

    def table(path: Path) -> Any:
        dataset = ds.dataset(str(path), format="parquet")
        wanted = [c for c in dataset.schema.names if c == "id" or c.startswith(("score_", "flag_"))]
        return dataset.to_table(columns=wanted).sort_by("id")

    a, b = table(cli_out), table(spark_out)
    if a["id"] != b["id"]:
        return {"same_ids": False, "flag_agreement": 0.0, "max_score_delta": float("nan")}
    scores = [c for c in a.column_names if c.startswith("score_")]
    flags = [c for c in a.column_names if c.startswith("flag_")]

    def values(t: Any, c: str, fill: Any) -> Any:
        return t[c].fill_null(fill).to_numpy()

    delta = max(
        float(np.nanmax(np.abs(values(a, c, np.nan) - values(b, c, np.nan)), initial=0.0)) for c in scores
    )
    same = np.logical_and.reduce([values(a, c, False) == values(b, c, False) for c in flags])
    return {"same_ids": True, "flag_agreement": float(same.mean()), "max_score_delta": delta}


def bench(n: int, artifact: Path, cores: int, workdir: Path) -> dict[str, Any]:
    data = workdir / "comments.parquet"
    start = time.perf_counter()
    write_comments(data, n)
    print(f"wrote {n:,} comments in {time.perf_counter() - start:.0f} s; scoring ...", file=sys.stderr)
    common = ["--model", str(artifact), "--no-progress", "--overwrite"]
    cli = run_measured(
        [
            COMMENTMOD,
            "score",
            str(data),
            *common,
            "--out",
            str(workdir / "cli.parquet"),
            "--threads",
            str(cores),
        ],
        cores,
    )
    print(f"cli: {cli['wall_s']:.0f} s", file=sys.stderr)
    spark_cmd = [
        COMMENTMOD,
        "score",
        "--engine",
        "spark",
        str(data),
        *common,
        "--out",
        str(workdir / "spark.parquet"),
    ]
    spark_cmd += ["--master", f"local[{cores}]", "--spark-conf", "spark.driver.memory=1g"]
    spark = run_measured(spark_cmd, cores)
    found = _JOB.search(spark["stderr"])
    spark["session_s"], spark["job_s"] = (float(found[1]), float(found[2])) if found else (None, None)
    print(f"spark: {spark['wall_s']:.0f} s", file=sys.stderr)
    return {
        "n": n,
        "cores": cores,
        "artifact": str(artifact),
        "load_average": os.getloadavg(),
        "cli": {k: v for k, v in cli.items() if k != "stderr"},
        "spark": {k: v for k, v in spark.items() if k != "stderr"},
        "agreement": compare(workdir / "cli.parquet", workdir / "spark.parquet"),
    }


def table(result: dict[str, Any]) -> str:
    n, cores, cli, spark = result["n"], result["cores"], result["cli"], result["spark"]
    job, session = spark.get("job_s"), spark.get("session_s")
    scoring_only = f"{n / job:,.0f} (job {job:.1f} s; JVM start {session:.1f} s)" if job else "?"
    agree = result["agreement"]
    return "\n".join(
        [
            f"{n:,} comments, {cores} cores, artifact {Path(result['artifact']).name}; "
            f"load average after: {result['load_average'][0]:.1f}",
            "",
            "| path | wall s | rows/s end to end | rows/s scoring only | peak memory (tree PSS) |",
            "|---|---:|---:|---:|---:|",
            f"| CLI, --threads {cores} | {cli['wall_s']:.1f} | {n / cli['wall_s']:,.0f} | - "
            f"| {cli['peak_mb']:,.0f} MB |",
            f"| Spark local[{cores}] | {spark['wall_s']:.1f} | {n / spark['wall_s']:,.0f} | {scoring_only} "
            f"| {spark['peak_mb']:,.0f} MB |",
            "",
            f"Spark / CLI rows/s, end to end: {cli['wall_s'] / spark['wall_s']:.2f}"
            + (f"; Spark scoring job only / CLI end to end: {cli['wall_s'] / job:.2f}" if job else ""),
            f"Agreement: same ids {agree['same_ids']}, same flags on {100 * agree['flag_agreement']:.2f} % "
            f"of rows, max score difference {agree['max_score_delta']:.2g}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="comments (default 1,000,000)")
    parser.add_argument("--artifact", type=Path, default=None, help="artifact (default: the tiny test model)")
    parser.add_argument("--cores", type=int, default=2, help="cores for both paths (default 2)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the data and outputs here")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-spark-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        artifact = args.artifact or tiny_artifact(workdir)
        result = bench(args.n, artifact, args.cores, workdir)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(table(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
