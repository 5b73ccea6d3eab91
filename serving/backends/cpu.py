"""What this CPU can do, as the capability names runtime plans require (``RuntimePlan.requires``).

:func:`capabilities_from_flags` (pure, over the text of ``/proc/cpuinfo`` or a bare flags list) keeps
every flag and adds ``bf16`` when the CPU has bf16 matrix units (``amx_bf16`` or ``avx512_bf16``; an
ARM ``Features`` line says ``bf16`` itself). :func:`capabilities_from_openvino` maps OpenVINO's
``OPTIMIZATION_CAPABILITIES`` of the CPU device (``BF16`` -> ``bf16``). :func:`cpu_capabilities`
reads this machine once: ``/proc/cpuinfo`` where there is one, else OpenVINO's answer when it is
installed, else nothing (then no plan that requires something is chosen).
"""

from __future__ import annotations

import importlib.util
import logging
import platform
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

CPUINFO = Path("/proc/cpuinfo")
BF16 = "bf16"
BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})  # x86 flags of bf16 matrix units
_FLAG_KEYS = ("flags", "features")  # x86 "flags", ARM "Features"


def cpu_flags(cpuinfo_text: str) -> frozenset[str]:
    """The flags of ``/proc/cpuinfo`` text (``flags`` / ``Features`` lines); a text without such
    lines is read as a bare whitespace-separated flags list."""
    flags: set[str] = set()
    found = False
    for line in cpuinfo_text.splitlines():
        key, colon, value = line.partition(":")
        if colon and key.strip().lower() in _FLAG_KEYS:
            found = True
            flags.update(value.split())
    if not found and ":" not in cpuinfo_text:
        flags.update(cpuinfo_text.split())
    return frozenset(flags)


def capabilities_from_flags(cpuinfo_text: str) -> frozenset[str]:
    """Every CPU flag, plus ``bf16`` when the CPU has bf16 matrix units."""
    flags = cpu_flags(cpuinfo_text)
    derived = {BF16} if flags & BF16_FLAGS else set()
    return flags | derived


def capabilities_from_openvino(optimization_capabilities: Iterable[str]) -> frozenset[str]:
    """OpenVINO's ``core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")`` as capability names."""
    caps = {str(c).upper() for c in optimization_capabilities}
    return frozenset({BF16} if "BF16" in caps else set())


def cpu_model_name(cpuinfo_text: str) -> str:
    """The CPU's model (``model name`` of ``/proc/cpuinfo``), else the platform's processor string."""
    for line in cpuinfo_text.splitlines():
        key, colon, value = line.partition(":")
        if colon and key.strip().lower() == "model name" and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def _cpuinfo_text() -> str | None:
    try:
        return CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


@lru_cache(maxsize=1)
def cpu_capabilities() -> frozenset[str]:
    """This machine's capabilities (see the module docstring); read once per process."""
    text = _cpuinfo_text()
    if text is not None:
        return capabilities_from_flags(text)
    if importlib.util.find_spec("openvino") is None:
        log.debug("no %s and no OpenVINO: CPU capabilities unknown", CPUINFO)
        return frozenset()
    import openvino

    return capabilities_from_openvino(openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def this_cpu() -> str:
    """This machine's CPU model (:func:`cpu_model_name`)."""
    return cpu_model_name(_cpuinfo_text() or "")
