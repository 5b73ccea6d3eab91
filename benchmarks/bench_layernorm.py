"""SkipLayerNormalization vs Add + LayerNormalization on ONNX Runtime's CPU provider.

Why the exporter and the Scorer keep Add and LayerNormalization apart (no BERT-optimizer
SkipLayerNorm fusion, ORT's own ``SkipLayerNormFusion`` disabled): on onnxruntime 1.31 the
fused kernel measured about 4.5x slower here (3.2 ms vs 0.7 ms for [32, 100, 384], 2 threads),
which cost the encoder ~20 % of its run time. Re-run after upgrading onnxruntime::

    .venv/bin/python benchmarks/bench_layernorm.py [--threads 2]

Prints median milliseconds per call for a few activation shapes (hidden 384, e5-small).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HIDDEN = 384
SHAPES = ((1, 40), (8, 100), (32, 100), (8, 128))


def build(fused: bool) -> bytes:
    io = [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, ["b", "s", HIDDEN]) for name in ("x", "skip")
    ]
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "s", HIDDEN])
    inits = [
        numpy_helper.from_array(np.ones(HIDDEN, np.float32), "gamma"),
        numpy_helper.from_array(np.zeros(HIDDEN, np.float32), "beta"),
        numpy_helper.from_array(np.full(HIDDEN, 0.1, np.float32), "bias"),
    ]
    if fused:
        nodes = [
            helper.make_node(
                "SkipLayerNormalization",
                ["x", "skip", "gamma", "beta", "bias"],
                ["y"],
                domain="com.microsoft",
                epsilon=1e-12,
            )
        ]
    else:
        nodes = [
            helper.make_node("Add", ["x", "bias"], ["xb"]),
            helper.make_node("Add", ["xb", "skip"], ["s"]),
            helper.make_node("LayerNormalization", ["s", "gamma", "beta"], ["y"], axis=-1, epsilon=1e-12),
        ]
    graph = helper.make_graph(nodes, "ln", io, [out], inits)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=8).SerializeToString()


def time_call(session: ort.InferenceSession, feed: dict[str, np.ndarray], repeat: int) -> float:
    session.run(None, feed)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args(argv)
    sessions = {}
    for fused in (True, False):
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        # no graph optimisation, so ORT cannot fuse the Add + LayerNormalization variant itself
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        sessions[fused] = ort.InferenceSession(build(fused), options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    print(f"onnxruntime {ort.__version__}, {args.threads} threads, hidden {HIDDEN}, median of {args.repeat}")
    header = f"{'shape':>14} {'SkipLayerNorm ms':>17} {'Add+LayerNorm ms':>17} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for batch, seq in SHAPES:
        feed = {k: rng.normal(size=(batch, seq, HIDDEN)).astype(np.float32) for k in ("x", "skip")}
        fused_ms = time_call(sessions[True], feed, args.repeat)
        plain_ms = time_call(sessions[False], feed, args.repeat)
        shape = f"[{batch},{seq},{HIDDEN}]"
        print(f"{shape:>14} {fused_ms:>17.3f} {plain_ms:>17.3f} {fused_ms / plain_ms:>6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
