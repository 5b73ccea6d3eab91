"""The HTTP service (needs the [http] extra): the ``/v1`` API over a scorer, with limits that hold.

``create_app(scorer, settings)`` builds the FastAPI app without loading anything (tests use a fake
scorer); ``commentmod serve`` (:mod:`commentmod.serving.cli_serve`) loads an artifact and runs it
with :func:`run_server`. Modules: ``settings`` (typed limits), ``schemas`` (request/response models),
``app`` (routes), ``limits`` (body limit and read timeout), ``pool`` (bounded scoring pool),
``auth`` (bearer tokens), ``server`` (uvicorn with connection cap and header timeout), ``info``.
Reference: ``docs/http.md``.
"""

from .app import create_app, include_public_router, pool_of
from .auth import ApiKeyError, load_api_keys
from .pool import Overloaded, ScoringPool
from .server import run_server
from .settings import HttpSettings

__all__ = [
    "ApiKeyError",
    "HttpSettings",
    "Overloaded",
    "ScoringPool",
    "create_app",
    "include_public_router",
    "load_api_keys",
    "pool_of",
    "run_server",
]
