"""HTTP scoring service: a FastAPI app factory over any scorer (needs the [http] extra).

``create_app(scorer)`` builds the app without loading anything, so it is tested
with a fake scorer; ``commentmod serve`` loads an artifact and runs it with uvicorn.

Endpoints: ``GET /health``, ``GET /labels`` and ``POST /score`` with
``{"comments": [str | {"id", "text", "article_title", "article_text"}, ...]}``,
answering ``{"model": ..., "results": [Result.to_dict(), ...]}`` in input order: the serialisation
the batch outputs use too (scores rounded to 6 places). A comment that is not scored (status
``empty`` or ``error``) has ``"scores": null`` and ``"flags": null``, as in the batch outputs;
``"truncated"`` is ``{"chars": n, "scored_chars": m}`` for a comment scored on its first ``m``
characters (``commentmod serve --max-chars``), else null.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from .pipeline import ScorerLike

MAX_BATCH = 1000


class Comment(BaseModel):
    """A comment with optional article context."""

    id: str | None = None
    text: str
    article_title: str | None = None
    article_text: str | None = None


class ScoreRequest(BaseModel):
    comments: list[str | Comment] = Field(..., description="comments to score, in order")


def create_app(scorer: ScorerLike, max_batch: int = MAX_BATCH) -> FastAPI:
    """The FastAPI application scoring with ``scorer``."""
    app = FastAPI(title="commentmod", description="Comment moderation scores: abusive, mocking, off-topic.")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "model": scorer.model_id}

    @app.get("/labels")
    def labels() -> dict[str, Any]:
        return {"labels": list(scorer.labels), "thresholds": dict(getattr(scorer, "thresholds", {}))}

    @app.post("/score")
    def score(request: ScoreRequest) -> dict[str, Any]:
        if len(request.comments) > max_batch:
            raise HTTPException(
                status_code=413,
                detail=f"{len(request.comments)} comments in one request; send at most {max_batch} per call",
            )
        items = [c if isinstance(c, str) else c.model_dump() for c in request.comments]
        results = scorer.score(items)
        return {"model": scorer.model_id, "results": [r.to_dict() for r in results]}

    return app
