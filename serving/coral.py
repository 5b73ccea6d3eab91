"""Coral Talk's external moderation phase: ``POST /v1/coral/moderate`` (needs the [http] extra).

Coral (github.com/coralproject/talk, ``server/src/core/server/services/comments/pipeline/phases/
external.ts``; ``server/EXTERNAL_MODERATION_PHASES.md``) POSTs, for each new or edited comment::

    {"action": "NEW" | "EDIT", "comment": {"body": …, "parentID": … | null},
     "author": {"id": …, "role": …}, "story": {"id": …, "url": …}, "site": {"id": …},
     "tenantID": …, "tenantDomain": …}

signed in ``X-Coral-Signature`` (:mod:`.coral_signature`), and waits ``timeout`` ms (200 by
default) for the answer; a late answer, an error or a non-2xx status lets the comment through
(Coral logs it and goes on). The request has no comment id and no article title: the article is
looked up in the story store (:mod:`.stories`) by story id, then URL.

Here, in order: the raw body (at most ``max_body_bytes``, else 413) is checked against the
signature before anything is parsed (401); the JSON is validated (400 / 422); the body (HTML or
plain text, as the phase's format says) becomes visible text with nothing hidden from the model
(:func:`comment_text`); the comment is scored through ``score`` (the app's bounded pool; its
exceptions propagate, so the app answers 503 and Coral fails open); the policy decides
(:mod:`.coral_policy`): 204 = no opinion, or a JSON answer (FLAG actions, ``SYSTEM_WITHHELD``,
``REJECTED``), never ``status: NONE``.

Off-topic without an article: when the story is not in the store (or has neither title nor
text), the labels judged against the article (``CONTEXT_LABELS``: off_topic) are passed to
:func:`.coral_policy.decide` as ``not_judged``: their rules never act, and the answer says so in
the ``X-Commentmod-Not-Judged: off_topic`` header (with ``X-Commentmod-Story: missing``). Coral
reads only the status and the body, so these headers are for people and logs.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from ..model.labels import CONTEXT_LABELS
from .coral_policy import DEFAULT_POLICY, CoralPolicy, Decision, coral_answer, decide, load_policy
from .coral_signature import SIGNATURE_HEADER, CoralSecretError, load_secrets, verify
from .readers.html_text import html_to_text
from .result import Result
from .stories import Story, StoryStore

log = logging.getLogger(__name__)

MODERATE_PATH = "/v1/coral/moderate"
MAX_BODY_BYTES = 1 << 20  # a Coral request is a comment plus a few ids
STORY_HEADER = "X-Commentmod-Story"  # found | missing (no story store, or not in it)
NOT_JUDGED_HEADER = "X-Commentmod-Not-Judged"  # labels left out of the decision, comma-separated
DECISION_HEADER = "X-Commentmod-Decision"  # none | flag | withhold | reject

ScoreFn = Callable[[list[dict[str, Any]]], Awaitable[list[Result]]]

# the openers of what html_to_text drops whole (script/style content, comments): escaped first, so
# their content is scored. Coral sanitises an HTML body before its external phases (``purify``), so
# such markup left in a body can only be text the commenter typed (or a plain-text body).
_HIDING = re.compile(r"<(?=\s*(?:script|style)\b|!--)", re.IGNORECASE)


@dataclass(frozen=True)
class CoralSettings:
    """What the endpoint needs: the phase's signing secrets (several during a rotation), the policy
    and the story store (None: every comment is scored without article context)."""

    secrets: tuple[bytes, ...] = field(repr=False)
    policy: CoralPolicy = DEFAULT_POLICY
    stories: StoryStore | None = None
    max_body_bytes: int = MAX_BODY_BYTES

    def __post_init__(self) -> None:
        if not self.secrets or not all(isinstance(s, bytes) and s for s in self.secrets):
            raise CoralSecretError("Coral settings need at least one non-empty signing secret (bytes)")


def load_coral_settings(
    secret_file: Path, policy_file: Path | None, stories_file: Path | None
) -> CoralSettings:
    """Settings from ``--coral-secret-file``, ``--policy`` (None: the default policy) and ``--stories``
    (None: no store). Raises :class:`CoralSecretError`, :class:`.coral_policy.CoralPolicyError`,
    :class:`commentmod.model.yamlfile.YamlFileError` or :class:`.stories.StoryStoreError`."""
    secrets = load_secrets(Path(secret_file))
    policy = load_policy(None if policy_file is None else Path(policy_file))
    stories = None if stories_file is None else StoryStore(Path(stories_file))
    log.info(
        "Coral endpoint %s: %d signing secret(s), policy %s%s, %s",
        MODERATE_PATH,
        len(secrets),
        policy_file or "default",
        " (may reject)" if policy.rejects() else " (never rejects)",
        "no story store" if stories is None else f"{stories.count()} stories in {stories.path}",
    )
    return CoralSettings(secrets, policy, stories)


# --------------------------------------------------------------------------- request


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CoralComment(_Lenient):
    body: str
    parentID: str | None = None


class CoralStory(_Lenient):
    id: str | None = None
    url: str | None = None


class CoralAuthor(_Lenient):
    id: str | None = None
    role: str | None = None


class CoralRequest(_Lenient):
    """Coral's ``ExternalModerationRequest``; only ``comment.body`` is needed, the rest is optional."""

    action: str = "NEW"
    comment: CoralComment
    author: CoralAuthor | None = None
    story: CoralStory | None = None
    tenantID: str | None = None
    tenantDomain: str | None = None


def comment_text(body: str) -> str:
    """The visible text of a Coral comment body (HTML or plain text), nothing hidden from the model."""
    return html_to_text(_HIDING.sub("&lt;", body))


def parse_request(raw: bytes) -> CoralRequest:
    """The request of a raw body; :class:`HTTPException` 400 (not JSON) or 422 (not Coral's shape)."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise HTTPException(400, f"body is not JSON: {exc}") from None
    try:
        return CoralRequest.model_validate(data)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise HTTPException(422, f"not a Coral moderation request: {errors}") from None


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 beyond ``limit`` bytes (before it is all read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body of {declared} bytes; at most {limit} are read")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


# --------------------------------------------------------------------------- endpoint


def find_story(stories: StoryStore | None, req: CoralRequest) -> Story | None:
    if stories is None or req.story is None:
        return None
    return stories.get(req.story.id, req.story.url)


def _respond(decision: Decision, story: Story | None) -> Response:
    headers = {STORY_HEADER: "found" if story is not None else "missing", DECISION_HEADER: decision.action}
    if decision.not_judged:
        headers[NOT_JUDGED_HEADER] = ",".join(decision.not_judged)
    body = coral_answer(decision)
    if body is None:
        return Response(status_code=204, headers=headers)
    return JSONResponse(body, headers=headers)


def coral_router(settings: CoralSettings, score: ScoreFn) -> APIRouter:
    """The router with ``POST /v1/coral/moderate`` (see the module docstring)."""
    router = APIRouter(tags=["coral"])

    @router.post(
        MODERATE_PATH,
        status_code=204,
        summary="Coral Talk external moderation phase",
        responses={
            200: {"description": "FLAG actions, SYSTEM_WITHHELD or REJECTED (Coral's response shape)"},
            204: {"description": "no opinion"},
            401: {"description": "missing or wrong X-Coral-Signature"},
        },
    )
    async def moderate(request: Request) -> Response:
        raw = await read_body(request, settings.max_body_bytes)
        if not verify(raw, request.headers.get(SIGNATURE_HEADER), settings.secrets):
            raise HTTPException(401, f"missing or invalid {SIGNATURE_HEADER}")
        req = parse_request(raw)
        story = find_story(settings.stories, req)
        context = story is not None and story.has_context
        item = {
            "text": comment_text(req.comment.body),
            "article_title": story.title if story is not None else None,
            "article_text": story.text if story is not None else None,
        }
        (result,) = await score([item])
        if result.status != "ok":
            log.debug("comment not scored (%s: %s): no opinion", result.status, result.error)
        decision = decide(result, settings.policy, () if context else CONTEXT_LABELS)
        log.debug("Coral %s story=%s decision=%s", req.action, story.id if story else None, decision)
        return _respond(decision, story)

    return router
