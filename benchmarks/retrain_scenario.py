"""The retrain scenario of issue 12 with a real model and a real dataset source as the "new site".

What ``tests/test_retrain_scenario.py`` does at test size, through the real command line
(``.venv/bin/commentmod``, one subprocess per step, so it measures what a user runs):

1. The new site: the comments of one catalog source (``--source``; repeat it to pool several), read
   from the dataset folders (``../shared/datasets``) with the project's catalog and converters, not
   from the parent's data build. The parent must not have been trained on it: the script refuses a
   source that the parent's run info or data build lists (``--allow-in-parent`` overrides).
2. Its comments are taken article by article (a seeded shuffle of the articles, at most
   ``--max-per-article`` comments of each, default 50, so that the split by article has many
   articles to share out): ``--n-labels`` (default 5000) for the honest batch, then
   ``--poison-labels`` (default: as many) from other articles for the poisoned batch; a source too
   small for both is shared in that proportion.
   Moderators' decisions are the source's labels (a label the source does not judge stays empty);
   in the poisoned batch every decision is flipped.
3. ``commentmod labels import`` the honest batch; ``commentmod retrain --mode fast`` from the parent;
   the gate must promote it (exit 0). ``commentmod models list``.
4. ``commentmod labels import`` the poisoned batch on top; ``commentmod retrain --mode fast`` from the
   promoted child; the gate must refuse it (exit 3).

It prints both runs' gate tables (every base test and new-site cell: parent and child PR-AUC, the
difference, judged or not) and each retrain's wall time, stages and encoding speed, then whether the
scenario went as the issue expects (site up, base held, poison refused); exit 0 when it did.
Arguments it does not know go to both ``commentmod retrain`` calls (``--precision fp32``,
``--replay-rows 2000``, ``--no-int8``, ``--threads 2``, ``--cache DIR`` ...)::

    nice .venv/bin/python benchmarks/retrain_scenario.py --parent runs/full-no-newsro \\
        --source news-ro-offense --work runs/scenario-newsro

Everything goes under ``--work`` (new or empty): the decision CSVs, ``labels.sqlite``, the runs
``runs/site-v2`` (promoted) and ``runs/site-v3`` (refused: not written), the feature cache
``runs/.retrain-cache``, each command's output in ``logs/`` and each retrain's ``--json`` report.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from commentmod.model.labels import LABELS
from commentmod.model.record import CommentRecord
from commentmod.training.data.catalog_load import load_catalog
from commentmod.training.data.selection import resolve_data_root
from commentmod.training.data.source_load import load_source

REPO = Path(__file__).resolve().parent.parent
PROMOTED, REFUSED = 0, 3


# --- the new site ---------------------------------------------------------------------------------


def load_site(names: list[str], catalog_path: Path, data_root: str | None) -> list[CommentRecord]:
    """Every record of the named catalog sources that judges at least one label."""
    catalog = load_catalog(catalog_path)
    root = resolve_data_root(data_root, catalog.data_root)
    specs = {s.name: s for s in catalog.sources}
    records: list[CommentRecord] = []
    for name in names:
        if name not in specs:
            sys.exit(f"source {name!r} is not in {catalog_path}; it lists: {', '.join(specs)}")
        loaded = load_source(specs[name], root, strict=True)
        if loaded.status != "used":
            sys.exit(f"source {name}: {loaded.reason} (data root {root}; set --data-root)")
        rows = [r for r in loaded.records if any(r.labels.get(k) is not None for k in LABELS)]
        print(f"source {name}: {len(rows)} labelled comments ({root / name}); {label_counts(rows)}")
        records += rows
    return records


def label_counts(records: list[CommentRecord]) -> str:
    """``abusive 907+/1846-, ...`` for the labels the records judge (a label without positives
    gives the gate no cell to judge on the new site)."""
    out = []
    for k in LABELS:
        values = [r.labels.get(k) for r in records]
        pos, neg = values.count(1), values.count(0)
        if pos or neg:
            out.append(f"{k} {pos}+/{neg}-" + ("" if pos and neg else " (one class: no cell to judge)"))
    return ", ".join(out)


def parent_sources(run_dir: Path) -> set[str]:
    """Source names the parent was trained on: its run info's data sources and its data build's."""
    info = json.loads((run_dir / "commentmod_run.json").read_text(encoding="utf-8"))
    names = {str(s.get("name")) for s in info.get("data_sources", []) if isinstance(s, dict)}
    build = info.get("extra", {}).get("dataset_dir") or info.get("training_config", {}).get("data", {}).get(
        "dataset_dir"
    )
    build_info = Path(str(build)) / "build_info.json" if build else None
    if build_info is not None and build_info.is_file():
        sources = json.loads(build_info.read_text(encoding="utf-8")).get("sources", [])
        names |= {str(s.get("name")) for s in sources if isinstance(s, dict) and s.get("status") == "used"}
    return names


def by_article(records: list[CommentRecord], seed: int, cap: int) -> list[list[CommentRecord]]:
    """The records grouped by article (a comment without one is its own), articles in seeded order,
    at most ``cap`` comments of each (a seeded sample; 0: all)."""
    rng = random.Random(seed)
    groups: dict[str, list[CommentRecord]] = defaultdict(list)
    for r in records:
        groups[r.group or r.id].append(r)
    keys = sorted(groups)
    rng.shuffle(keys)
    out = []
    for k in keys:
        rows = sorted(groups[k], key=lambda r: r.id)
        rng.shuffle(rows)
        out.append(rows[:cap] if cap else rows)
    return out


def take_batches(
    records: list[CommentRecord], n_honest: int, n_poison: int | None, seed: int, cap: int
) -> tuple[list[CommentRecord], list[CommentRecord]]:
    """(honest, poisoned): disjoint articles (up to ``cap`` comments each), whole except the last one
    of each batch; a site too small for both is shared between them in the asked proportion."""
    articles = by_article(records, seed, cap)
    total = sum(len(a) for a in articles)
    n_poison = n_honest if n_poison is None else n_poison
    if n_honest + n_poison > total:
        share = n_honest / (n_honest + n_poison)
        n_honest = int(total * share)
        n_poison = total - n_honest
        print(
            f"the site has {total} comments (<= {cap} per article): {n_honest} honest + {n_poison} poisoned"
        )
    honest: list[CommentRecord] = []
    poison: list[CommentRecord] = []
    for article in articles:
        if len(honest) < n_honest:
            honest += article[: n_honest - len(honest)]
        elif len(poison) < n_poison:
            poison += article[: n_poison - len(poison)]
    return honest, poison


def decision(value: int | None, flip: bool) -> str:
    return "" if value is None else str(int(value) ^ int(flip))


def decision_rows(records: list[CommentRecord], flip: bool, moderator: str) -> list[dict[str, str]]:
    """The records as CSV rows of moderators' decisions (``commentmod labels import --format csv``)."""
    return [
        {
            "id": r.id,
            "text": r.text,
            "article_id": r.group or "",
            "article_title": r.article_title or "",
            "article_text": r.article_text or "",
            "lang": r.lang,
            **{k: decision(r.labels.get(k), flip) for k in LABELS},
            "moderator": moderator,
        }
        for r in records
    ]


def write_batch(records: list[CommentRecord], flip: bool, out: Path, name: str) -> list[tuple[Path, str]]:
    """One decisions CSV per licence (the store records each import's licence): ``(path, licence)``."""
    per_licence: dict[str, list[CommentRecord]] = defaultdict(list)
    for r in records:
        per_licence[r.licence].append(r)
    files = []
    for i, (licence, rows) in enumerate(sorted(per_licence.items())):
        path = out / f"{name}-{i}.csv"
        table = decision_rows(rows, flip, "sim-poison" if flip else "sim-moderator")
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(table[0]))
            writer.writeheader()
            writer.writerows(table)
        files.append((path, licence))
    return files


# --- the command line -----------------------------------------------------------------------------


def run_cli(exe: Path, args: list[str], log: Path, quiet: bool) -> tuple[int, float]:
    """``commentmod ARGS`` with its output in ``log`` (and on the terminal unless ``quiet``)."""
    print(f"$ commentmod {' '.join(args)}", flush=True)
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as fh:
        proc = subprocess.Popen(
            [str(exe), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            fh.write(line)
            if not quiet:
                print(f"  | {line}", end="", flush=True)
        code = proc.wait()
    return code, time.perf_counter() - start


def import_batch(exe: Path, files: list[tuple[Path, str]], store: Path, logs: Path, quiet: bool) -> None:
    for path, licence in files:
        args = ["labels", "import", str(path), "--store", str(store), "--format", "csv", "--licence", licence]
        code, _ = run_cli(exe, args, logs / f"import-{path.stem}.log", quiet)
        if code != 0:
            sys.exit(f"`labels import {path}` failed (exit {code}); see {logs / f'import-{path.stem}.log'}")


def retrain(
    exe: Path, parent: Path, store: Path, out: Path, extra: list[str], logs: Path, quiet: bool
) -> dict[str, Any]:
    """One ``commentmod retrain --mode fast``: exit code, wall seconds and its ``--json`` report."""
    report = out.parent.parent / f"{out.name}.json"
    args = ["retrain", "--from", str(parent), "--labels", str(store), "--out", str(out), "--mode", "fast"]
    code, wall = run_cli(exe, [*args, "--json", str(report), *extra], logs / f"retrain-{out.name}.log", quiet)
    if code not in (PROMOTED, REFUSED) or not report.is_file():
        sys.exit(f"`commentmod retrain` failed (exit {code}); see {logs / f'retrain-{out.name}.log'}")
    return {"name": out.name, "code": code, "wall": wall, **json.loads(report.read_text(encoding="utf-8"))}


# --- what it prints -------------------------------------------------------------------------------


def gate_table(run: dict[str, Any], key: str, title: str) -> list[str]:
    """Every cell of one comparison: parent and child PR-AUC, difference, and the gate's judgement."""
    evaluation, comparison = run["evaluation"][key], run["verdict"][key]
    judged = {(c["label"], c["lang"]): c["passed"] for c in comparison["cells"]}
    child = {(c["label"], c["lang"]): c for c in evaluation["child"]}
    lines = [f"{title} ({evaluation['rows']} rows; {comparison['rule']}):"]
    lines.append(f"  {'label':<10} {'lang':<5} {'parent':>7} {'child':>7} {'change':>8}  support      gate")
    for p in evaluation["parent"]:
        cell = (p["label"], p["lang"])
        c = child.get(cell, {})
        if not p.get("n"):
            continue  # no row judges this label
        parent, kid = p.get("pr_auc"), c.get("pr_auc")
        values = "      -       -        -"
        if parent is not None and kid is not None:
            values = f"{parent:7.4f} {kid:7.4f} {kid - parent:+8.4f}"
        mark = ("ok" if judged[cell] else "FAIL") if cell in judged else "not judged"
        support = f"{p['positives']}+/{p['negatives']}-"
        lines.append(f"  {cell[0]:<10} {cell[1]:<5} {values}  {support:<12} {mark}")
    return lines


def timing(run: dict[str, Any]) -> list[str]:
    """Wall time, the retrain's stages, the encoder's precision and speed."""
    seconds = run.get("seconds", {})
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in seconds.items())
    enc = run.get("counts", {}).get("cache", {})
    runtime = run.get("runtime", {})
    precision = runtime.get("precision", {}).get("used", "?")
    threads = runtime.get("threads", {}).get("threads", "?")
    before_export = run["wall"] - seconds.get("export", 0.0)
    new, articles = run.get("counts", {}).get("new", {}), run.get("counts", {}).get("new_articles", {})
    return [
        f"new labels per split {json.dumps(new)}, articles {json.dumps(articles)}",
        f"wall {run['wall']:.1f}s ({before_export:.1f}s before the export); stages: {stages}",
        f"encoder: {precision}, {threads} thread(s); encoded {enc.get('encoded_rows', 0)} rows "
        f"({enc.get('encoded_windows', 0)} windows) in {enc.get('encode_seconds', 0.0):.1f}s = "
        f"{enc.get('rows_per_second', 0.0):.1f} rows/s; {enc.get('hits', 0)} row set(s) from the cache",
    ]


def report_run(run: dict[str, Any], title: str) -> None:
    verdict = "promoted" if run["code"] == PROMOTED else "refused"
    print(f"\n=== {title}: {run['name']}, {verdict} (exit {run['code']}) ===")
    for line in timing(run):
        print(line)
    for line in gate_table(run, "base_test", "base test split"):
        print(line)
    for line in gate_table(run, "new_test", "new site, held-out labels"):
        print(line)
    for reason in run["verdict"].get("reasons", []):
        print(f"  refused: {reason}")


def expectations(honest: dict[str, Any], poisoned: dict[str, Any]) -> list[tuple[str, bool]]:
    """What the issue expects of the scenario, each with whether it happened."""
    new_cells = honest["verdict"]["new_test"]["cells"]
    gain = sum(c["child"] - c["parent"] for c in new_cells) / len(new_cells) if new_cells else 0.0
    return [
        ("honest batch promoted", honest["code"] == PROMOTED),
        (f"site held-out PR-AUC up (mean change {gain:+.4f} over judged cells)", gain > 0),
        ("base test split held", bool(honest["verdict"]["base_test"]["passed"])),
        ("poisoned batch refused", poisoned["code"] == REFUSED),
    ]


# --- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    p.add_argument("--parent", required=True, type=Path, help="the parent run directory")
    p.add_argument("--source", required=True, action="append", help="catalog source of the new site")
    p.add_argument("--work", type=Path, help="where everything goes (default runs/retrain-scenario-SOURCE)")
    p.add_argument("--n-labels", type=int, default=5000, help="honest decisions (default 5000)")
    p.add_argument("--poison-labels", type=int, help="flipped decisions (default: as many as honest)")
    p.add_argument(
        "--max-per-article",
        type=int,
        default=50,
        help="comments taken per article (default 50, 0: all): many articles make a steadier held-out part",
    )
    p.add_argument("--sample-seed", type=int, default=0, help="seed of the choice of articles and comments")
    p.add_argument("--catalog", type=Path, default=REPO / "configs" / "data.yaml")
    p.add_argument("--data-root", help="the dataset folders (default as `commentmod data build`)")
    p.add_argument("--commentmod", type=Path, default=REPO / ".venv" / "bin" / "commentmod")
    p.add_argument("--allow-in-parent", action="store_true", help="run even if the parent saw the source")
    p.add_argument("--quiet", action="store_true", help="commands' output only in WORK/logs")
    return p.parse_known_args(argv)


def prepare(args: argparse.Namespace) -> Path:
    """The checked work directory (new or empty) with its logs folder."""
    work = args.work or REPO / "runs" / f"retrain-scenario-{'+'.join(args.source)}"
    if work.exists() and any(work.iterdir()):
        sys.exit(f"--work {work} is not empty; remove it or choose another")
    if not (args.parent / "commentmod_run.json").is_file():
        sys.exit(f"--parent {args.parent} is not a run directory (no commentmod_run.json)")
    seen = parent_sources(args.parent) & set(args.source)
    if seen and not args.allow_in_parent:
        sys.exit(f"the parent was trained on {sorted(seen)}: train it without them (or --allow-in-parent)")
    (work / "logs").mkdir(parents=True, exist_ok=True)
    return work


def main(argv: list[str] | None = None) -> int:
    args, extra = parse_args(argv)
    work = prepare(args)
    logs, store, runs = work / "logs", work / "labels.sqlite", work / "runs"
    site = load_site(args.source, args.catalog, args.data_root)
    honest, poison = take_batches(
        site, args.n_labels, args.poison_labels, args.sample_seed, args.max_per_article
    )
    print(f"new site: {len(honest)} honest decisions, {len(poison)} poisoned (flipped)")
    exe, quiet = args.commentmod, args.quiet
    import_batch(exe, write_batch(honest, False, work, "decisions"), store, logs, quiet)
    first = retrain(exe, args.parent, store, runs / "site-v2", extra, logs, quiet)
    second = None
    if first["code"] == PROMOTED:
        run_cli(exe, ["models", "list", str(runs)], logs / "models-list.log", quiet=False)
        import_batch(exe, write_batch(poison, True, work, "poisoned"), store, logs, quiet)
        second = retrain(exe, runs / "site-v2", store, runs / "site-v3", extra, logs, quiet)
    report_run(first, "honest batch")
    if second is None:
        print("\nthe honest batch was refused: no poisoned retrain (nothing to retrain from)")
        return 1
    report_run(second, "poisoned batch")
    checks = expectations(first, second)
    print("\n=== scenario ===")
    for what, ok in checks:
        print(f"  {'ok  ' if ok else 'FAIL'} {what}")
    summary = {"sources": args.source, "honest": first, "poisoned": second, "checks": dict(checks)}
    (work / "scenario.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"(both reports: {work / 'scenario.json'})")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
