"""Where ``Scorer.score`` spends its time besides the model, one table per backend (issue 15).

    nice -n 19 .venv/bin/python benchmarks/profile_scoring.py --artifact artifacts/demo \\
        [--backend onnxruntime openvino] [--threads 1] [--n 1000] [--cprofile 15]

The comments are bench_scoring.py's (imported): 1,000 deterministic multilingual comments of realistic
lengths, 85 % under one of five articles. Per backend, in one process: ``Scorer.score`` end to end
(best of ``--repeat``), then one replay of ``Scorer._score_chunk`` - the same Scorer methods, in the
same 256-comment chunks - with a timer around each step and timing proxies on the tokenizer, the
transformer backend and the n-gram model, so each stage is the library's own code:

* parse + clean: ``_prepare`` (input checks, control characters, ``Item.clean``);
* tokenise comments / tokenise articles: the tokenizer's ``encode_batch`` calls of ``encode_items``
  (the first is the comments, the second the article contexts);
* windows: the rest of ``encode_items`` (contexts, ids lists, ``assemble_windows``);
* pad + batch: ``_window_logits`` minus the model calls (length sort, padding, id map, window max);
* transformer: the backend's ``run``;
* n-gram featurise / n-gram model: the text layout plus counting the n-grams (sparse form) or building
  the character array and batches (ONNX Runtime), then the arithmetic (sparse) or the session runs;
* stack + flags: ``_shipped`` minus the n-gram model, and the thresholds;
* results: ``_ok_result``.

The replay's probabilities must equal ``Scorer.score``'s (it stops otherwise). A training job may share
the machine: compare shares and ratios within one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scoring import N_COMMENTS, make_comments

STAGES = (
    "parse + clean",
    "tokenise comments",
    "tokenise articles",
    "windows",
    "pad + batch",
    "transformer",
    "n-gram featurise",
    "n-gram model",
    "stack + flags",
    "results",
)


class Timer:
    """Seconds per stage, summed over calls (proxies and the replay's steps nest; callers subtract)."""

    def __init__(self) -> None:
        self.stages: Counter[str] = Counter()

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stages[stage] += time.perf_counter() - start


class TimedTokenizer:
    """The tokenizer, timing its batch encodes: the first of a chunk is the comments, then the contexts."""

    def __init__(self, tokenizer: Any, timer: Timer) -> None:
        self.tokenizer, self.timer, self.calls = tokenizer, timer, 0

    def _timed(self, method: str, inputs: list[str], add_special_tokens: bool) -> list[Any]:
        stage = "tokenise comments" if self.calls == 0 else "tokenise articles"
        self.calls += 1
        with self.timer(stage):
            return getattr(self.tokenizer, method)(inputs, add_special_tokens=add_special_tokens)

    def encode_batch(self, inputs: list[str], add_special_tokens: bool = True) -> list[Any]:
        return self._timed("encode_batch", inputs, add_special_tokens)

    def encode_batch_fast(self, inputs: list[str], add_special_tokens: bool = True) -> list[Any]:
        return self._timed("encode_batch_fast", inputs, add_special_tokens)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tokenizer, name)


class TimedRun:
    """Any object with ``run`` (a backend, an ONNX Runtime session), timing ``run`` as ``stage``."""

    def __init__(self, inner: Any, timer: Timer, stage: str) -> None:
        self.inner, self.timer, self.stage = inner, timer, stage

    def run(self, *args: Any, **kwargs: Any) -> Any:
        with self.timer(self.stage):
            return self.inner.run(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _timed_function(owner: Any, name: str, timer: Timer, stage: str) -> Callable[[], None]:
    """Wrap ``owner.name`` (a module's or class's function) in a timer; returns the undo."""
    original = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        with timer(stage):
            return original(*args, **kwargs)

    setattr(owner, name, timed)
    return lambda: setattr(owner, name, original)


def instrument(scorer: Any, timer: Timer) -> Callable[[], None]:
    """Timing proxies on the scorer's tokenizer, backend and n-gram model; returns the undo."""
    import commentmod.serving.scorer as scorer_module

    tokenizer, backend, session = scorer.tokenizer, scorer.backend, scorer.ngram_session
    scorer.tokenizer = TimedTokenizer(tokenizer, timer)
    scorer.backend = TimedRun(backend, timer, "transformer")
    if session is not None:
        scorer.ngram_session = TimedRun(session, timer, "n-gram run")
    undo = [
        _timed_function(scorer_module, "layout_cleaned", timer, "n-gram layout"),
        _timed_function(scorer_module, "ngram_probs_of_layouts", timer, "n-gram all"),
    ]
    sparse = getattr(scorer, "ngram_sparse", None)  # absent before serving/ngram_sparse.py
    if sparse is not None:
        undo.append(_timed_function(type(sparse), "probs_of_layouts", timer, "n-gram all"))
        undo.append(_timed_function(type(sparse), "_counts", timer, "n-gram counts"))

    def restore() -> None:
        scorer.tokenizer, scorer.backend, scorer.ngram_session = tokenizer, backend, session
        for step in undo:
            step()

    return restore


def replay_chunk(scorer: Any, inputs: list[Any], timer: Timer) -> np.ndarray:
    """``Scorer._score_chunk`` step by step (every input scorable), timed; the probabilities."""
    from commentmod.model.inputs import encode_items
    from commentmod.serving.result import Result

    with timer("parse + clean"):
        prepared = [scorer._prepare(obj) for obj in inputs]
    assert not any(isinstance(p, Result) for p in prepared), "the replay expects scorable comments"
    items = [item for _, item in prepared]
    scorer.tokenizer.calls = 0
    with timer("encode"):
        windows = encode_items(scorer.tokenizer, items, scorer.rule, scorer.special)
    with timer("window logits"):
        logits = scorer._window_logits(windows, None)
    with timer("shipped"):
        probs = scorer._shipped(logits, items)
    with timer("stack + flags"):
        flags = probs >= scorer._threshold_vec
    with timer("results"):
        for row, (parsed, _) in enumerate(prepared):
            scorer._ok_result(parsed, probs[row], flags[row])
    return probs


def breakdown(scorer: Any, comments: list[dict], chunk: int) -> tuple[dict[str, float], np.ndarray]:
    """Seconds per stage (:data:`STAGES`) of one replay, and its probabilities."""
    timer = Timer()
    restore = instrument(scorer, timer)
    try:
        probs = [replay_chunk(scorer, comments[i : i + chunk], timer) for i in range(0, len(comments), chunk)]
    finally:
        restore()
    t = timer.stages
    if getattr(scorer, "ngram_sparse", None) is not None:  # counting, then the arithmetic
        featurise, ngram_model = t["n-gram counts"], t["n-gram all"] - t["n-gram counts"]
    else:  # ONNX Runtime: the character array and batching, then the session runs
        featurise, ngram_model = t["n-gram all"] - t["n-gram run"], t["n-gram run"]
    out = {
        "parse + clean": t["parse + clean"],
        "tokenise comments": t["tokenise comments"],
        "tokenise articles": t["tokenise articles"],
        "windows": t["encode"] - t["tokenise comments"] - t["tokenise articles"],
        "pad + batch": t["window logits"] - t["transformer"],
        "transformer": t["transformer"],
        "n-gram featurise": t["n-gram layout"] + featurise,
        "n-gram model": ngram_model,
        "stack + flags": t["shipped"] - t["n-gram layout"] - t["n-gram all"] + t["stack + flags"],
        "results": t["results"],
    }
    return out, np.concatenate(probs)


def end_to_end(scorer: Any, comments: list[dict], repeat: int) -> tuple[float, np.ndarray]:
    """Best wall time of ``Scorer.score`` over ``repeat`` runs, and its probabilities."""
    best, results = float("inf"), []
    for _ in range(repeat):
        start = time.perf_counter()
        results = scorer.score(comments)
        best = min(best, time.perf_counter() - start)
    probs = np.asarray([[r.scores[k] for k in scorer.labels] for r in results], dtype=np.float32)
    return best, probs


def print_table(title: str, n: int, total: float, stages: dict[str, float]) -> None:
    replay = sum(stages.values())
    rows = [
        *((stage, stages[stage]) for stage in STAGES),
        ("non-transformer", replay - stages["transformer"]),
    ]
    print(f"\n{title}")
    print(f"end to end: {n / total:.1f} comments/s ({total:.2f} s); replay {replay:.2f} s")
    print(f"{'stage':<20} {'ms / 1000 comments':>19} {'share':>7}")
    for stage, seconds in rows:
        print(f"{stage:<20} {1e6 * seconds / n:>19.1f} {100 * seconds / replay:>6.1f}%")


def profile_backend(args: argparse.Namespace, backend: str, comments: list[dict]) -> None:
    from commentmod.serving import Scorer
    from commentmod.serving.scorer import DEFAULT_CHUNK_SIZE

    scorer = Scorer.load(args.artifact, threads=args.threads, backend=backend, verify=False)
    scorer.score(comments[:16])  # warm-up
    total, expected = end_to_end(scorer, comments, args.repeat)
    stages, probs = breakdown(scorer, comments, DEFAULT_CHUNK_SIZE)
    if not np.array_equal(probs, expected):
        raise SystemExit(
            f"the replay's probabilities differ from Scorer.score's (max {np.abs(probs - expected).max()})"
        )
    plan = scorer.runtime
    print_table(
        f"{plan.backend} {plan.plan} ({plan.file}), {args.threads} thread(s)", len(comments), total, stages
    )
    if args.cprofile:
        profiler = cProfile.Profile()
        profiler.runcall(scorer.score, comments)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.cprofile)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--artifact", type=Path, default=Path("artifacts/demo"))
    parser.add_argument("--backend", nargs="+", default=["onnxruntime", "openvino"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n", type=int, default=N_COMMENTS)
    parser.add_argument("--repeat", type=int, default=2, help="end-to-end runs (the best counts)")
    parser.add_argument("--cprofile", type=int, default=0, help="also print cProfile's top N functions")
    args = parser.parse_args(argv)
    if args.threads == 1:  # the tokenizer's own thread pool too
        os.environ.setdefault("RAYON_NUM_THREADS", "1")
    comments = make_comments(args.artifact / "tokenizer.json", args.n)
    with_context = sum("article_title" in c for c in comments)
    print(f"{len(comments)} comments, {with_context} with article context, {args.artifact}")
    for backend in args.backend:
        profile_backend(args, backend, comments)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
