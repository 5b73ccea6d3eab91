"""The FastAPI app of the ``/v1`` API: :func:`create_app` builds it over any scorer, loading nothing.

Routes (reference: ``docs/http.md``): ``POST /v1/score``, ``GET /v1/model``, ``GET /healthz`` (the
process answers; never needs a token), ``GET /readyz`` (the model scored a probe comment). The old
``/score``, ``/health`` and ``/labels`` answer 410 naming their replacement.

Layers, outermost first: CORS (only when origins are configured) -> bearer auth (only with API keys;
``/healthz`` and routers added with :func:`include_public_router` are public) -> body limit and body
read timeout (:mod:`.limits`) -> the routes, whose model calls go through the bounded
:class:`~.pool.ScoringPool` (full: 503 with ``Retry-After``). Connection limits and header timeouts
live in the server (:mod:`.server`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from ..pipeline import ScorerLike
from .auth import BearerAuthMiddleware
from .info import model_info, model_ref
from .limits import BodyLimitMiddleware
from .pool import Overloaded, ScoringPool
from .schemas import ErrorOut, Health, ModelInfo, Ready, ScoreRequest, ScoreResponse, scorer_inputs
from .settings import HttpSettings

PUBLIC_PATHS = frozenset({"/healthz"})
PROBE_TEXT = "Probe comment: is the model answering?"
REMOVED_PATHS = {"/score": "POST /v1/score", "/health": "GET /healthz", "/labels": "GET /v1/model"}
DESCRIPTION = (
    "Comment moderation scores (abusive, mocking, off-topic) for one or more comments, with optional "
    "article context. Reference, limits and error codes: docs/http.md."
)


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    what = {
        401: "missing or wrong bearer token (only when the service has API keys)",
        408: "the request body did not arrive in time",
        413: "request body or comment count over the limit",
        503: "the scoring pool is full (see Retry-After), or the model is not ready",
    }
    return {code: {"model": ErrorOut, "description": what[code]} for code in codes}


@dataclass
class Readiness:
    """Whether the model has scored the probe comment; the last failure when it has not."""

    ready: bool = False
    error: str | None = "the probe comment has not been scored yet"

    async def probe(self, pool: ScoringPool) -> None:
        try:
            (result,) = await pool.score([PROBE_TEXT])
        except Exception as exc:  # any failure means not ready; /readyz reports it
            self.error = f"the probe comment could not be scored: {exc}"
            return
        self.ready = result.status == "ok"
        self.error = None if self.ready else f"the probe comment gave status {result.status}: {result.error}"


def _v1_router(
    scorer: ScorerLike, settings: HttpSettings, pool: ScoringPool, readiness: Readiness
) -> APIRouter:
    router = APIRouter()
    ref = model_ref(scorer.model_id)
    info = model_info(scorer, settings)

    @router.post("/v1/score", response_model=ScoreResponse, responses=_errors(401, 408, 413, 503))
    async def score(request: ScoreRequest) -> dict[str, Any]:
        """Score comments; one result per comment, in order (an invalid item: an ``error`` result)."""
        if len(request.comments) > settings.max_comments:
            raise HTTPException(
                413,
                f"{len(request.comments)} comments in one request; send at most {settings.max_comments}",
            )
        results = await pool.score(scorer_inputs(request))
        return {"model": ref.model_dump(), "results": [r.to_dict() for r in results]}

    @router.get("/v1/model", response_model=ModelInfo, responses=_errors(401))
    async def model() -> ModelInfo:
        """Labels, thresholds, languages, training sources and licences, version and limits."""
        return info

    @router.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        """The process is up (no model call, no token needed)."""
        return Health(status="ok")

    @router.get("/readyz", response_model=Ready, responses=_errors(401, 503))
    async def readyz() -> Ready | JSONResponse:
        """The model is loaded and has scored a probe comment."""
        if not readiness.ready:
            await readiness.probe(pool)
        if not readiness.ready:
            return JSONResponse({"detail": f"not ready: {readiness.error}"}, status_code=503)
        return Ready(status="ready", model=ref, in_flight=pool.in_flight, capacity=pool.capacity)

    return router


def _gone(old: str, new: str) -> Callable[[], Awaitable[JSONResponse]]:
    async def gone() -> JSONResponse:
        return JSONResponse({"detail": f"{old} was removed; use {new} (docs/http.md)"}, status_code=410)

    return gone


def _removed_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    for old, new in REMOVED_PATHS.items():
        router.add_api_route(old, _gone(old, new), methods=["GET", "POST"])
    return router


async def _overloaded(request: Request, exc: Exception) -> JSONResponse:
    retry = exc.retry_after_s if isinstance(exc, Overloaded) else 1
    return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": str(retry)})


def create_app(scorer: ScorerLike, settings: HttpSettings | None = None) -> FastAPI:
    """The app scoring with ``scorer`` under ``settings`` (default :class:`HttpSettings`).

    Its lifespan scores the probe comment at startup and, at shutdown, waits for the scoring pool.
    """
    settings = settings or HttpSettings()
    pool = ScoringPool(scorer.score, settings.workers, settings.queue_limit, settings.retry_after_s)
    readiness = Readiness()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await readiness.probe(pool)
        yield
        pool.close(wait=True)

    app = FastAPI(title="commentmod", version="1", description=DESCRIPTION, lifespan=lifespan)
    app.state.pool = pool
    app.state.public_paths = set(PUBLIC_PATHS)
    app.include_router(_v1_router(scorer, settings, pool, readiness))
    app.include_router(_removed_router())
    app.add_exception_handler(Overloaded, _overloaded)
    _add_middleware(app, settings)
    return app


def _add_middleware(app: FastAPI, settings: HttpSettings) -> None:
    """Body limits innermost, then auth, then CORS outermost (the last added runs first)."""
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s
    )
    if settings.api_keys:
        keys = [key.get_secret_value() for key in settings.api_keys]
        app.add_middleware(BearerAuthMiddleware, keys=keys, public_paths=app.state.public_paths)
        _declare_bearer(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )


def _declare_bearer(app: FastAPI) -> None:
    """Show the bearer scheme in OpenAPI, on every operation but the public ones."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"}
            }
            for path, operations in schema.get("paths", {}).items():
                if path not in app.state.public_paths:
                    for operation in operations.values():
                        operation["security"] = [{"bearer": []}]
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def include_public_router(app: FastAPI, router: APIRouter) -> None:
    """Add a router with its own auth (Coral Talk's signed webhook): no bearer token on its paths."""
    app.include_router(router)
    for route in router.routes:
        path = getattr(route, "path", None)
        if path:
            app.state.public_paths.add(path)


def pool_of(app: FastAPI) -> ScoringPool:
    """The app's scoring pool: its ``score`` is the async, bounded score function for other routers."""
    pool = app.state.pool
    assert isinstance(pool, ScoringPool)
    return pool
