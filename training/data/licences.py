"""Licence classes of the data sources, and which of them a commercial model may use.

The catalog (``configs/data.yaml``) gives every source one of :data:`KNOWN_LICENCES`;
``--commercial-ok`` keeps the sources for which :func:`is_commercial_ok` is true.
"""

from __future__ import annotations

# Licence strings the catalog accepts, by class. ``commercial_ok`` keeps the permissive and own classes.
PERMISSIVE_LICENCES: tuple[str, ...] = (
    "Apache-2.0",
    "MIT",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "CC0-1.0",
    "CC-BY-3.0",
    "CC-BY-4.0",
)
SHARE_ALIKE_LICENCES: tuple[str, ...] = ("CC-BY-SA-3.0", "CC-BY-SA-4.0")
NON_COMMERCIAL_LICENCES: tuple[str, ...] = (
    "CC-BY-NC-3.0",
    "CC-BY-NC-4.0",
    "CC-BY-NC-SA-3.0",
    "CC-BY-NC-SA-4.0",
    "CC-BY-NC-ND-4.0",
)
OTHER_LICENCES: tuple[str, ...] = ("research-only", "unknown")
# data the site owns (its moderators' labels): usable commercially by its owner
OWN_LICENCES: tuple[str, ...] = ("proprietary",)
KNOWN_LICENCES: tuple[str, ...] = (
    PERMISSIVE_LICENCES + SHARE_ALIKE_LICENCES + NON_COMMERCIAL_LICENCES + OTHER_LICENCES + OWN_LICENCES
)


def licence_class(licence: str) -> str:
    """``permissive``, ``own``, ``share-alike``, ``non-commercial``, ``research-only`` or ``unknown``."""
    if licence in OWN_LICENCES:
        return "own"
    if licence in PERMISSIVE_LICENCES:
        return "permissive"
    if licence in SHARE_ALIKE_LICENCES:
        return "share-alike"
    if licence in NON_COMMERCIAL_LICENCES:
        return "non-commercial"
    if licence == "research-only":
        return "research-only"
    return "unknown"


def is_commercial_ok(licence: str) -> bool:
    """True for Apache/MIT/BSD/CC0/CC-BY sources and the site's own data (what ``--commercial-ok`` keeps)."""
    return licence_class(licence) in ("permissive", "own")
