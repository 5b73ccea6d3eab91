"""Attacks on the Scorer's inputs and on the artifact manifest, as in issue 14 (RELIABILITY.md figures).

Each case runs in a fresh subprocess (peak RSS is per process)::

    .venv/bin/python benchmarks/attack_scorer.py --model ARTIFACT_DIR [--only NAME ...]

Any artifact works (the tiny random one of the test fixtures is enough). Prints a markdown table:
attack | outcome | figure. For "before" figures run it with ``PYTHONPATH`` pointing at an older
``commentmod`` tree (``git archive``); cases that need newer names say so.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

SENTENCE = "Ești un cretin, taci! Felicitări, geniu curat. "


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _seal(art: Path) -> None:
    digest = hashlib.sha256((art / "commentmod.json").read_bytes()).hexdigest()
    (art / "commentmod.json.sha256").write_text(f"{digest}  commentmod.json\n", encoding="ascii")


def _outcome(call: Any) -> str:
    try:
        value = call()
    except Exception as exc:  # an attack report: any failure is the outcome
        return f"{type(exc).__name__}: {str(exc)[:150]}"
    return f"ok: {value}"


# --------------------------------------------------------------------------- input cases


def case_big_comment(model: Path) -> str:
    from commentmod.serving import Scorer

    scorer = Scorer.load(model)
    text = (SENTENCE * (20_000_000 // len(SENTENCE) + 1))[:20_000_000]
    start = time.perf_counter()
    (result,) = scorer.score([text])
    seconds = time.perf_counter() - start
    return f"status {result.status}, extra {result.extra} | {seconds:.1f} s, peak RSS {_rss_mb():,.0f} MB"


def _many(model: Path, streaming: bool) -> str:
    from commentmod.serving import Scorer

    scorer = Scorer.load(model)
    items = [f"comentariul {i}: ești un cretin" for i in range(100_000)]
    start = time.perf_counter()
    n = sum(1 for _ in scorer.score_iter(items)) if streaming else len(scorer.score(items))
    return f"{n:,} results | {time.perf_counter() - start:.1f} s, peak RSS {_rss_mb():,.0f} MB"


def case_score_100k(model: Path) -> str:
    return _many(model, streaming=False)


def case_score_iter_100k(model: Path) -> str:
    return _many(model, streaming=True)


def case_single_str(model: Path) -> str:
    from commentmod.serving import Scorer

    scorer = Scorer.load(model)
    return _outcome(lambda: f"{len(scorer.score('hello'))} results")  # type: ignore[arg-type]


def case_single_dict(model: Path) -> str:
    from commentmod.serving import Scorer

    scorer = Scorer.load(model)
    return _outcome(lambda: f"{len(scorer.score({'text': 'hi'}))} results")  # type: ignore[arg-type]


def case_non_string_text(model: Path) -> str:
    from commentmod.serving import Scorer

    scorer = Scorer.load(model)
    items = [{"text": v} for v in (5, True, b"x", {"a": 1}, [1], None)]
    return _outcome(lambda: [r.status for r in scorer.score(items)])


def case_nul_split(model: Path) -> str:
    from commentmod.serving import Scorer

    scorer = Scorer.load(model, model_file="model.fp32.onnx")
    a, b = (scorer.score([t])[0].scores or {} for t in ("id\x00iot", "idiot"))
    return f"max |score(id<NUL>iot) - score(idiot)| = {max(abs(a[k] - b[k]) for k in a):.4f}"


# --------------------------------------------------------------------------- manifest cases


def _manifest_attack(model: Path, change: Any, seal: bool = True) -> str:
    from commentmod.serving import Scorer

    with tempfile.TemporaryDirectory() as tmp:
        art = Path(shutil.copytree(model, Path(tmp) / "art"))
        data = json.loads((art / "commentmod.json").read_text(encoding="utf-8"))
        change(data, art)
        (art / "commentmod.json").write_text(json.dumps(data), encoding="utf-8")
        if seal:
            _seal(art)
        return _outcome(lambda: f"loads; scores {Scorer.load(art).score(['hello'])[0].scores}")


def _threshold(value: float) -> Any:
    return lambda d, art: d["thresholds"].update(abusive=value)


MANIFEST_CASES: dict[str, Any] = {
    "threshold NaN": _threshold(math.nan),
    "threshold 1e400": _threshold(float("inf")),
    "threshold -0.5": _threshold(-0.5),
    "temperature 0": lambda d, art: d["temperature"].update(abusive=0.0),
    "duplicate labels": lambda d, art: d.update(labels=["abusive", "abusive", "off_topic"]),
    "threshold a string": _threshold("0.5"),  # type: ignore[arg-type]
    "labels fewer than outputs": lambda d, art: d.update(labels=["abusive", "mocking"]),
    "file entry ../outside": lambda d, art: d["files"].update({"../outside.txt": "0" * 64}),
    "tokenizer.json a symlink out": lambda d, art: _symlink_out(art),
}


def _symlink_out(art: Path) -> None:
    outside = art.parent / "tokenizer.json"
    shutil.copyfile(art / "tokenizer.json", outside)
    (art / "tokenizer.json").unlink()
    (art / "tokenizer.json").symlink_to(outside)


def case_manifest_edited_not_sealed(model: Path) -> str:
    return _manifest_attack(model, _threshold(0.01), seal=False)


CASES = {
    "big_comment": case_big_comment,
    "score_100k": case_score_100k,
    "score_iter_100k": case_score_iter_100k,
    "single_str": case_single_str,
    "single_dict": case_single_dict,
    "non_string_text": case_non_string_text,
    "nul_split": case_nul_split,
    "manifest_edited_not_sealed": case_manifest_edited_not_sealed,
    **{
        "manifest: " + name: partial(_manifest_attack, change=change)
        for name, change in MANIFEST_CASES.items()
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case in this process
    args = parser.parse_args()
    if args.case:
        print(CASES[args.case](args.model))
        return
    print("| attack | outcome | figure |\n|---|---|---|")
    for name in args.only or CASES:
        proc = subprocess.run(
            [sys.executable, __file__, "--model", str(args.model), "--case", name],
            capture_output=True,
            text=True,
            check=False,
        )
        out = (proc.stdout.strip() or proc.stderr.strip().splitlines()[-1]).replace("|", "/")
        outcome, _, figure = out.partition(" / ") if " / " in out else (out, "", "-")
        print(f"| {name} | {outcome} | {figure or '-'} |")


if __name__ == "__main__":
    main()
