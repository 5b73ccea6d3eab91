"""``commentmod score`` on Spark (``--engine spark --master local[C]``) vs the single-process CLI on C cores.

Generates N deterministic comments (the languages, sentences and articles of ``bench_scoring.py``;
lognormal lengths, median 3 sentences; 85 % with article context) into one Parquet file, written
20,000 rows at a time (memory flat in N; reused when ``--workdir`` already holds N of them), then
scores it with each engine, each in a fresh process tree pinned to the same C cores (``taskset``):

* ``cli``:   ``commentmod score IN --threads C`` (ONNX Runtime with C threads, one process);
* ``spark``: ``commentmod score --engine spark IN --master local[C]`` (C tasks of 1 CPU each,
  default partitions, driver memory 1g).

For each: wall time and rows/s end to end and, for Spark, rows/s of the scoring job alone (without
the JVM start); peak memory sampled every 0.5 s over the process tree: the CLI process's RSS
(``VmHWM``), Spark's driver (JVM + the Python driver) and Python workers (RSS and PSS sums), and
the tree's total PSS. Each engine's numbers are appended to ``--jsonl`` as soon as it finishes (a
run stopped halfway keeps them), then a comparison row (rows/s ratio, agreement of the outputs by
id: same ids, same flags, max score difference - an int8 artifact's scores depend on the batch a
comment is scored in, an fp32 artifact's do not); the Markdown table is printed at the end::

    nice .venv/bin/python benchmarks/bench_spark.py artifacts/full --n 1000000 [--cores 2] \\
        [--cpu-list 0-1] [--workdir /big/disk/bench] [--jsonl bench_spark.jsonl]

Without an artifact the tiny random model of the tests is built and exported (int8) first: it
measures the engine's overhead, not the model (the real model's speed is in ``docs/scaling.md``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scoring import ARTICLES, LANG_WEIGHTS, SENTENCES

COMMENTMOD = str(Path(sys.executable).parent / "commentmod")
SEED = 20261202
CHUNK = 20_000
ENGINES = ("cli", "spark")
_JOB = re.compile(r"session ([\d.]+) s, job ([\d.]+) s")


def write_comments(path: Path, n: int, seed: int = SEED) -> None:
    """``n`` deterministic comments into one Parquet file, :data:`CHUNK` rows (one row group) at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    langs, weights = zip(*LANG_WEIGHTS.items(), strict=True)
    names = ("id", "text", "article_title", "article_text")
    schema = pa.schema([(c, pa.string()) for c in names])
    with pq.ParquetWriter(str(path), schema) as writer:
        for start in range(0, n, CHUNK):
            cols: dict[str, list[str | None]] = {c: [] for c in names}
            for i in range(start, min(n, start + CHUNK)):
                lang = rng.choices(langs, weights)[0]
                k = int(min(20, max(1, rng.lognormvariate(math.log(3), 0.6))))
                title, body = rng.choice(ARTICLES) if rng.random() < 0.85 else (None, None)
                text = " ".join(rng.choice(SENTENCES[lang]) for _ in range(k))
                for c, value in zip(names, (f"c{i}", text, title, body), strict=True):
                    cols[c].append(value)
            writer.write_table(pa.table(cols, schema=schema))


def ensure_comments(path: Path, n: int) -> None:
    import pyarrow.parquet as pq

    if path.exists() and pq.ParquetFile(str(path)).metadata.num_rows == n:
        print(f"reusing {path} ({n:,} comments)", file=sys.stderr)
        return
    start = time.perf_counter()
    write_comments(path, n)
    print(f"wrote {n:,} comments in {time.perf_counter() - start:.0f} s", file=sys.stderr)


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


def _kb(path: str, fields: tuple[str, ...]) -> dict[str, int]:
    found = dict.fromkeys(fields, 0)
    try:
        for line in Path(path).read_text().splitlines():
            key = line.split(":", 1)[0]
            if key in found:
                found[key] = int(line.split()[1])
    except OSError:
        pass
    return found


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


class TreeMemory(threading.Thread):
    """Peaks of the process tree under ``pid``, sampled every ``interval`` s, in three parts:
    ``driver`` (the root process and launcher shells), ``jvm`` (a ``java`` process) and
    ``workers`` (everything the JVM starts: PySpark's daemon and Python workers)."""

    PARTS = ("driver", "jvm", "workers")

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak: dict[str, float] = {}
        self.root_hwm_kb = 0
        self.done = threading.Event()

    def sample(self) -> None:
        tree, todo = _children(), [(self.pid, "driver")]
        rss, pss, count = Counter[str](), Counter[str](), Counter[str]()
        while todo:
            pid, part = todo.pop()
            part = "jvm" if part == "driver" and _comm(pid) == "java" else part
            mem = _kb(f"/proc/{pid}/smaps_rollup", ("Rss", "Pss"))
            rss[part] += mem["Rss"]
            pss[part] += mem["Pss"]
            count[part] += 1
            todo.extend((child, "workers" if part == "jvm" else part) for child in tree.get(pid, []))
        hwm = _kb(f"/proc/{self.pid}/status", ("VmHWM",))["VmHWM"]
        self.root_hwm_kb = max(self.root_hwm_kb, hwm)
        now = {f"{p}_rss_mb": rss[p] / 1024 for p in self.PARTS} | {
            f"{p}_pss_mb": pss[p] / 1024 for p in self.PARTS
        }
        now |= {"total_pss_mb": sum(pss.values()) / 1024, "workers_processes": count["workers"]}
        for key, value in now.items():
            self.peak[key] = max(self.peak.get(key, 0), value)

    def run(self) -> None:
        while not self.done.is_set():
            self.sample()
            self.done.wait(self.interval)

    def result(self) -> dict[str, Any]:
        return {k: round(v, 1) for k, v in self.peak.items()} | {
            "root_hwm_mb": round(self.root_hwm_kb / 1024, 1)
        }


def run_measured(command: list[str], cpu_list: str, log: Path) -> dict[str, Any]:
    """Wall time and peak memory of ``command`` pinned to ``cpu_list``; its output goes to ``log``."""
    pinned = ["taskset", "-c", cpu_list, *command] if shutil.which("taskset") else command
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(pinned, stdout=out, stderr=subprocess.STDOUT)
        memory = TreeMemory(proc.pid)
        memory.start()
        code = proc.wait()
    wall = time.perf_counter() - start
    memory.done.set()
    memory.join()
    tail = _tail(log)
    if code != 0:
        raise SystemExit(f"{' '.join(command)} failed ({code}); the end of {log}:\n{tail}")
    return {"wall_s": round(wall, 2), "memory": memory.result(), "tail": tail}


def _tail(path: Path, size: int = 4000) -> str:
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - size))
        return fh.read().decode("utf-8", errors="replace")


# --------------------------------------------------------------------------- the two engines


def run_engine(
    engine: str, data: Path, artifact: Path, cores: int, cpu_list: str, workdir: Path
) -> dict[str, Any]:
    out = workdir / f"{engine}.parquet"
    command = [COMMENTMOD, "score", str(data), "--model", str(artifact), "--no-progress", "--overwrite"]
    command += ["--out", str(out)]
    if engine == "cli":
        command += ["--threads", str(cores)]
    else:
        command += [
            "--engine",
            "spark",
            "--master",
            f"local[{cores}]",
            "--spark-conf",
            "spark.driver.memory=1g",
        ]
    print(f"{engine}: scoring ...", file=sys.stderr)
    measured = run_measured(command, cpu_list, workdir / f"{engine}.log")
    row = {"engine": engine, "wall_s": measured["wall_s"], "memory": measured["memory"]}
    found = _JOB.search(measured["tail"])
    if engine == "spark" and found:
        row["session_s"], row["job_s"] = float(found[1]), float(found[2])
    print(f"{engine}: {row['wall_s']:.1f} s", file=sys.stderr)
    return row


def _by_id(path: Path, n: int) -> dict[str, Any]:
    """Score and flag columns of an output, placed by the row number in each id (``c<i>``)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    dataset = ds.dataset(str(path), format="parquet")
    wanted = [c for c in dataset.schema.names if c.startswith(("score_", "flag_"))]
    cols: dict[str, Any] = {
        c: np.full(n, np.nan) if c.startswith("score_") else np.zeros(n, bool) for c in wanted
    }
    seen = np.zeros(n, np.int64)
    for batch in dataset.to_batches(columns=["id", *wanted], batch_size=65_536):
        index = pc.cast(pc.utf8_slice_codeunits(batch.column("id"), 1), pa.int64()).to_numpy()
        np.add.at(seen, index, 1)
        for c in wanted:
            column = batch.column(c).fill_null(math.nan if c.startswith("score_") else False)
            cols[c][index] = column.to_numpy(zero_copy_only=False)
    return cols | {"_seen": seen}


def compare(cli_out: Path, spark_out: Path, n: int) -> dict[str, Any]:
    """Same ids (each of c0..c<n-1> once in both), share of rows with the same flags, largest score
    difference; memory O(n) in numpy arrays, read batch by batch."""
    import numpy as np

    try:
        a, b = _by_id(cli_out, n), _by_id(spark_out, n)
    except (ValueError, IndexError) as exc:  # an id that is not one of the generated ones
        return {"same_ids": False, "error": str(exc)}
    same_ids = bool((a["_seen"] == 1).all() and (b["_seen"] == 1).all())
    scores = [c for c in a if c.startswith("score_")]
    flags = [c for c in a if c.startswith("flag_")]
    delta = max(float(np.nanmax(np.abs(a[c] - b[c]), initial=0.0)) for c in scores)
    same = np.logical_and.reduce([a[c] == b[c] for c in flags])
    return {"same_ids": same_ids, "flag_agreement": float(same.mean()), "max_score_delta": delta}


# --------------------------------------------------------------------------- results


def append_row(path: Path, row: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def comparison(rows: dict[str, dict[str, Any]], workdir: Path, n: int) -> dict[str, Any]:
    cli, spark = rows["cli"], rows["spark"]
    found: dict[str, Any] = {
        "engine": "comparison",
        "spark_over_cli": round(cli["wall_s"] / spark["wall_s"], 3),
    }
    if spark.get("job_s"):
        found["spark_job_over_cli"] = round(cli["wall_s"] / spark["job_s"], 3)
    found["agreement"] = compare(workdir / "cli.parquet", workdir / "spark.parquet", n)
    found["bench_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return found


def _memory_cells(row: dict[str, Any]) -> tuple[str, str, str]:
    m = {k: f"{v:,.0f}" for k, v in row["memory"].items()}
    if row["engine"] == "cli":
        return f"RSS {m['root_hwm_mb']} MB (one process)", "-", f"{m['total_pss_mb']} MB"
    driver = f"JVM {m['jvm_rss_mb']} + Python {m['driver_rss_mb']} MB RSS"
    workers = f"{m['workers_rss_mb']} MB RSS, {m['workers_pss_mb']} MB PSS ({m['workers_processes']} proc.)"
    return driver, workers, f"{m['total_pss_mb']} MB"


def table(meta: dict[str, Any], rows: dict[str, dict[str, Any]]) -> str:
    n, cores = meta["n"], meta["cores"]
    lines = [
        f"{n:,} comments, {cores} cores (CPUs {meta['cpu_list']}), artifact {Path(meta['artifact']).name}; "
        f"load average after: {os.getloadavg()[0]:.1f}",
        "",
        "| path | wall s | rows/s end to end | rows/s, Spark job only | peak memory: driver or process "
        "| peak memory: Python workers | peak total (tree PSS) |",
        "|---|---:|---:|---:|---|---|---:|",
    ]
    for engine in (e for e in ENGINES if e in rows):
        row = rows[engine]
        name = f"CLI --threads {cores}" if engine == "cli" else f"Spark local[{cores}]"
        job = row.get("job_s")
        only = f"{n / job:,.0f} (job {job:.1f} s, JVM start {row['session_s']:.1f} s)" if job else "-"
        cells = [name, f"{row['wall_s']:.1f}", f"{n / row['wall_s']:,.0f}", only, *_memory_cells(row)]
        lines.append("| " + " | ".join(cells) + " |")
    found = rows.get("comparison")
    if found:
        lines += ["", f"Spark / CLI rows/s, end to end: {found['spark_over_cli']:.2f}"]
        if "spark_job_over_cli" in found:
            lines[-1] += f"; Spark job only / CLI end to end: {found['spark_job_over_cli']:.2f}"
        agree = found["agreement"]
        lines.append(
            f"Agreement: same ids {agree['same_ids']}, same flags on "
            f"{100 * agree.get('flag_agreement', 0):.2f} % of rows, max score difference "
            f"{agree.get('max_score_delta', math.nan):.2g}; this script's peak RSS "
            f"{found['bench_peak_rss_mb']:,.0f} MB"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "artifact", nargs="?", type=Path, help="artifact directory (default: the tiny test model)"
    )
    parser.add_argument("--artifact", dest="artifact_opt", type=Path, help="the same, as an option")
    parser.add_argument("--n", type=int, default=1_000_000, help="comments (default 1,000,000)")
    parser.add_argument("--cores", type=int, default=2, help="cores for both engines (default 2)")
    parser.add_argument(
        "--cpu-list", default=None, help="taskset CPU list of those cores (default 0-<cores-1>)"
    )
    parser.add_argument("--engines", default="cli,spark", help="which engines, in order (default cli,spark)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the data, outputs and logs here")
    parser.add_argument(
        "--jsonl", type=Path, default=Path("bench_spark.jsonl"), help="append result rows here"
    )
    args = parser.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if not engines or set(engines) - set(ENGINES):
        parser.error(f"--engines: a comma-separated subset of {','.join(ENGINES)}")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-spark-"))
    workdir.mkdir(parents=True, exist_ok=True)
    jsonl = args.jsonl.resolve()
    cpu_list = args.cpu_list or f"0-{args.cores - 1}"
    meta = {"run": datetime.datetime.now().isoformat(timespec="seconds"), "n": args.n, "cores": args.cores}
    meta |= {"cpu_list": cpu_list, "artifact": str(args.artifact or args.artifact_opt or "tiny")}
    rows: dict[str, dict[str, Any]] = {}
    try:
        artifact = (args.artifact or args.artifact_opt or tiny_artifact(workdir)).resolve()
        meta["artifact"] = str(artifact)
        ensure_comments(workdir / "comments.parquet", args.n)
        for engine in engines:
            row = run_engine(engine, workdir / "comments.parquet", artifact, args.cores, cpu_list, workdir)
            rows[engine] = row | {
                "rows_per_s": round(args.n / row["wall_s"], 1),
                "load_average": os.getloadavg(),
            }
            append_row(jsonl, meta | rows[engine])
        if {"cli", "spark"} <= rows.keys():
            rows["comparison"] = comparison(rows, workdir, args.n)
            append_row(jsonl, meta | rows["comparison"])
    except BaseException:
        if rows:  # what finished before the failure or the interrupt
            print(table(meta, rows), file=sys.stderr)
        raise
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(table(meta, rows))
    print(f"\n(rows appended to {jsonl})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
