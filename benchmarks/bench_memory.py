"""Peak memory of `commentmod score` on large JSONL dumps: it must stay flat as the input grows.

Generates N-record JSONL files (realistic multilingual comments with article titles)
in a temporary directory, runs `commentmod score` on each in a fresh subprocess and
prints records, wall time, records/s and the child's peak RSS.

    python benchmarks/bench_memory.py --model artifacts/quick --sizes 10000 1000000
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PHRASES = [
    "Era și timpul să repare strada, doi ani am mers pe gropi.",
    "Felicitări primăriei, încă un termen ratat 👏",
    "Ești un cretin dacă crezi asta.",
    "Vând Logan 2012, detalii în privat.",
    "This budget is a disgrace and the council should resign.",
    "Sure, because that worked so well last time 🙄",
    "Does anyone know a good dentist around here?",
    "Нарешті відремонтують міст, дуже чекали.",
    "Ну да, конечно, лучшие в мире дороги 😂",
    "Заработок от 5000 рублей в день, пиши в телеграм",
]
TITLES = [
    "Tramvaiul 101 redeschis",
    "Town closes library",
    "Новий міст у Києві",
    "Аренда в Москве подорожала",
]


def write_dump(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            text = " ".join(rng.choice(PHRASES) for _ in range(rng.choice((1, 1, 1, 2, 3))))
            row = {"id": f"c{i}", "text": text, "article_title": rng.choice(TITLES)}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def run_one(
    model: Path, n: int, workdir: Path, batch_size: int, threads: int | None = None
) -> dict[str, float]:
    src = workdir / f"dump-{n}.jsonl"
    write_dump(src, n)
    out = workdir / f"out-{n}.jsonl"
    script = (
        "import resource, sys\n"
        "from commentmod.serving.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    cmd = [
        sys.executable,
        "-c",
        script,
        "score",
        str(src),
        "--model",
        str(model),
        "--out",
        str(out),
        "--batch-size",
        str(batch_size),
        "--overwrite",
        "--no-progress",
        "--no-text",
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"score failed for n={n}:\n{proc.stderr[-2000:]}")
    peak_kb = next(int(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("PEAK_KB"))
    rows = sum(1 for _ in out.open(encoding="utf-8"))
    src.unlink()
    out.unlink()
    return {"records": float(rows), "wall_s": wall, "rate": rows / wall, "peak_mb": peak_kb / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, required=True, help="artifact directory")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: all cores)")
    args = parser.parse_args()
    print(f"{'records':>10} {'wall s':>9} {'rec/s':>9} {'peak RSS MB':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            r = run_one(args.model, n, Path(tmp), args.batch_size, args.threads)
            print(
                f"{int(r['records']):>10} {r['wall_s']:>9.1f} {r['rate']:>9.0f} {r['peak_mb']:>12.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
