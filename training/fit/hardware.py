"""What the machine offers a training run: the device, bf16 autocast or fp32, and how many torch threads.

Device (``device: auto|cpu|cuda``): ``auto`` is CUDA when torch sees a GPU, else the CPU; ``cuda``
without a GPU is an error.

Precision (``precision: auto|fp32|bf16`` in the config):

- ``auto`` trains under ``torch.autocast(dtype=torch.bfloat16)`` when the hardware has fast bf16
  (a CPU with AMX tiles, flag ``amx_bf16`` in ``/proc/cpuinfo``; a CUDA GPU that supports bf16),
  else in fp32. AVX512-BF16 alone does not count: on a Xeon whose AMX the VM hides
  (``avx512_bf16`` without ``amx_bf16``) a bf16 training step of the base encoder took 1.91 s
  against 1.18 s in fp32 (`benchmarks/bench_training.py`, 2 threads, L64), while AMX made it 1.6x
  faster than fp32;
- ``bf16`` asks for bf16 (``amx_bf16`` or ``avx512_bf16`` will do: the user asked); on hardware
  without either the run **falls back to fp32 with a warning**
  (bf16 emulated by a CPU without those instructions is slower than fp32, and a GPU without bf16
  would need fp16 + loss scaling, which this trainer does not do). The fallback and its reason
  are recorded in the run, so a config written for a GPU (``configs/gpu.yaml``) still runs anywhere;
- ``fp32`` never autocasts.

Weights, optimizer state and the exported ONNX stay fp32 in every case: autocast only changes the
dtype of the matmuls inside the forward/backward pass.

Threads (``num_threads: null``): one torch thread per core that is free. A short sample of
``/proc/stat`` tells how many cores other processes keep busy; two threads on a core that another
job is using ran 4x slower than one thread (docs/results-full-run.md), so a core counts as free
only when other processes use less than a quarter of it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from .errors import TrainError

log = logging.getLogger(__name__)

Precision = Literal["fp32", "bf16"]
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
AUTO_BF16_CPU_FLAG = "amx_bf16"  # what `auto` needs: avx512_bf16 alone measured slower than fp32
CPUINFO = Path("/proc/cpuinfo")
PROC_STAT = Path("/proc/stat")
# share of a core that other processes may use for it to still count as free
BUSY_CORE_SHARE = 0.25


# --- device -------------------------------------------------------------------------------------------


def pick_device(requested: str) -> torch.device:
    """The torch device for the config's ``device`` (``auto``, ``cpu`` or ``cuda``)."""
    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise TrainError("device is 'cuda' but torch sees no CUDA device; set device: auto or cpu")
        return torch.device("cuda")
    return torch.device("cpu")


# --- precision ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrecisionChoice:
    """What the config asked for, what the run uses, and why."""

    requested: str
    used: Precision
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cpu_flags(cpuinfo_text: str) -> frozenset[str]:
    """The CPU feature flags of ``/proc/cpuinfo`` text (the first ``flags`` line; x86 Linux)."""
    for line in cpuinfo_text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_bf16_flags(cpuinfo_text: str) -> list[str]:
    """Which of the fast-bf16 flags (``amx_bf16``, ``avx512_bf16``) the CPU has, in that order."""
    flags = cpu_flags(cpuinfo_text)
    return [f for f in BF16_CPU_FLAGS if f in flags]


def choose_precision(
    requested: str, device_type: str, bf16_cpu_flags: Sequence[str], cuda_bf16: bool
) -> PrecisionChoice:
    """Pure decision: ``requested`` (auto/fp32/bf16) on a device with the given bf16 support."""
    if requested not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision is {requested!r}; write auto, fp32 or bf16")
    if requested == "fp32":
        return PrecisionChoice(requested, "fp32", "fp32 requested")
    if device_type == "cuda":
        supported, why = cuda_bf16, "CUDA device supports bf16" if cuda_bf16 else "CUDA device lacks bf16"
    elif device_type == "cpu" and requested == "auto" and bf16_cpu_flags:
        supported = AUTO_BF16_CPU_FLAG in bf16_cpu_flags
        why = (
            f"CPU flags {', '.join(bf16_cpu_flags)}"
            if supported
            else f"CPU flags {', '.join(bf16_cpu_flags)} without amx_bf16: bf16 autocast is slower there"
        )
    elif device_type == "cpu":
        supported = bool(bf16_cpu_flags)
        why = f"CPU flags {', '.join(bf16_cpu_flags)}" if supported else "CPU has no amx_bf16/avx512_bf16"
    else:
        supported, why = False, f"no bf16 autocast on device {device_type!r}"
    if supported:
        return PrecisionChoice(requested, "bf16", why)
    if requested == "bf16":
        return PrecisionChoice(requested, "fp32", f"bf16 requested but {why}: fell back to fp32")
    return PrecisionChoice(requested, "fp32", why)


def read_cpuinfo(path: Path = CPUINFO) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def cuda_bf16_supported() -> bool:
    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def resolve_precision(requested: str, device: torch.device) -> PrecisionChoice:
    """:func:`choose_precision` for this machine; warns when ``bf16`` had to fall back to fp32."""
    flags = cpu_bf16_flags(read_cpuinfo()) if device.type == "cpu" else []
    cuda = cuda_bf16_supported() if device.type == "cuda" else False
    choice = choose_precision(requested, device.type, flags, cuda)
    if requested == "bf16" and choice.used != "bf16":
        log.warning("%s (set precision: fp32 or auto to silence this)", choice.reason)
    return choice


def autocast(precision: str, device: torch.device | str) -> contextlib.AbstractContextManager[Any]:
    """``torch.autocast`` to bf16 when ``precision`` is ``bf16``, else a no-op context."""
    device_type = torch.device(device).type
    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, dtype=torch.bfloat16)


# --- threads ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThreadChoice:
    threads: int
    cores: int
    busy_cores: float | None  # cores other processes kept busy during the sample (None: not measured)
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cpu_times(stat_text: str) -> tuple[int, int, int]:
    """``(busy, total, n_cpus)`` jiffies of the aggregate ``cpu`` line of ``/proc/stat`` text."""
    total = busy = n_cpus = 0
    for line in stat_text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "cpu":
            values = [int(v) for v in parts[1:9]]  # user nice system idle iowait irq softirq steal
            total = sum(values)
            busy = total - values[3] - (values[4] if len(values) > 4 else 0)
        elif parts[0].startswith("cpu") and parts[0][3:].isdigit():
            n_cpus += 1
    return busy, total, n_cpus


def busy_cores_between(before: str, after: str) -> float | None:
    """Cores kept busy between two ``/proc/stat`` snapshots (None when they cannot be compared)."""
    b0, t0, n = cpu_times(before)
    b1, t1, _ = cpu_times(after)
    if t1 <= t0 or n == 0:
        return None
    return n * (b1 - b0) / (t1 - t0)


def choose_threads(cores: int, busy_cores: float | None, busy_share: float = BUSY_CORE_SHARE) -> int:
    """Threads for the cores that are free: a core counts as busy when others use >= ``busy_share`` of it."""
    if busy_cores is None:
        return max(1, cores)
    taken = max(0, math.ceil(busy_cores - busy_share))
    return max(1, cores - taken)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def auto_threads(requested: int | None, sample_seconds: float = 1.0) -> ThreadChoice:
    """``requested`` when set; else one thread per free core (sampled over ``sample_seconds``)."""
    cores = usable_cores()
    if requested is not None:
        return ThreadChoice(requested, cores, None, "num_threads set")
    if cores == 1:
        return ThreadChoice(1, cores, None, "one core")
    try:
        before = PROC_STAT.read_text(encoding="utf-8")
        time.sleep(sample_seconds)
        after = PROC_STAT.read_text(encoding="utf-8")
    except OSError:
        return ThreadChoice(cores, cores, None, f"{PROC_STAT} unreadable: all cores")
    busy = busy_cores_between(before, after)
    threads = choose_threads(cores, busy)
    if busy is None:
        return ThreadChoice(threads, cores, None, "CPU load not measurable: all cores")
    return ThreadChoice(threads, cores, round(busy, 2), f"other processes kept {busy:.2f} cores busy")


def use_threads(requested: int | None) -> ThreadChoice:
    """:func:`auto_threads`, applied to torch (``torch.set_num_threads``) and logged."""
    choice = auto_threads(requested)
    torch.set_num_threads(choice.threads)
    log.info("%d torch thread(s) on %d core(s) (%s)", choice.threads, choice.cores, choice.reason)
    return choice
