"""What the service says about its model (``GET /v1/model``, the ``model`` of every response).

Works with any scorer: the real :class:`commentmod.serving.Scorer` has a ``manifest`` (sources,
licences, dates); a scorer without one (a test double) gives only its labels and thresholds.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from ...model.labels import LABEL_DESCRIPTIONS
from ..pipeline import ScorerLike
from .schemas import LabelInfo, Limits, ModelInfo, ModelRef, RuntimeInfo, SourceInfo
from .settings import HttpSettings


def model_ref(model_id: str) -> ModelRef:
    """``name@digest`` (a Scorer's ``model_id``) as ``{id: name, version: digest}``."""
    name, at, digest = model_id.rpartition("@")
    return ModelRef(id=name, version=digest) if at else ModelRef(id=model_id, version="")


def package_version() -> str:
    try:
        return version("commentmod")
    except PackageNotFoundError:
        return "unknown"


def _languages(manifest: Any) -> list[str] | None:
    recorded = getattr(manifest, "extra", {}).get("languages")
    return [str(lang) for lang in recorded] if isinstance(recorded, list | tuple) else None


def _runtime(scorer: ScorerLike) -> RuntimeInfo | None:
    """The runtime plan a real Scorer runs (``scorer.runtime``); None for a scorer without one."""
    plan = getattr(scorer, "runtime", None)
    if plan is None:
        return None
    return RuntimeInfo(backend=plan.backend, plan=plan.plan, precision=plan.precision)


def model_info(scorer: ScorerLike, settings: HttpSettings) -> ModelInfo:
    """Labels with descriptions and thresholds, training sources and licences, version, limits."""
    thresholds = {k: float(v) for k, v in dict(getattr(scorer, "thresholds", {})).items()}
    manifest = getattr(scorer, "manifest", None)
    sources = [
        SourceInfo(name=s.name, licence=s.licence, rows=s.rows, commercial_ok=s.commercial_ok)
        for s in getattr(manifest, "data_sources", ())
    ]
    ref = model_ref(scorer.model_id)
    return ModelInfo(
        id=ref.id,
        version=ref.version,
        labels=[
            LabelInfo(name=k, description=LABEL_DESCRIPTIONS.get(k, ""), threshold=thresholds.get(k, 0.5))
            for k in scorer.labels
        ],
        thresholds=thresholds,
        languages=_languages(manifest),
        training_sources=sources,
        licences=sorted({s.licence for s in sources}),
        hybrid=getattr(scorer, "hybrid", None) is not None,
        created_at=getattr(manifest, "created_at", None),
        format_version=getattr(manifest, "format_version", None),
        commentmod_version=package_version(),
        limits=Limits(
            max_body_bytes=settings.max_body_bytes,
            max_comments=settings.max_comments,
            max_comment_chars=getattr(scorer, "max_chars", None),
        ),
        runtime=_runtime(scorer),
    )
