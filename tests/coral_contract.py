"""Coral Talk's side of the external moderation contract, for the Coral tests (not a test module).

Built from Coral's source (github.com/coralproject/talk at release 9.11.8):

* the request shape and its examples: ``server/EXTERNAL_MODERATION_PHASES.md`` and
  ``ExternalModerationRequest`` in ``server/src/core/server/services/comments/pipeline/phases/external.ts``;
* the body Coral sends and signs: ``JSON.stringify(request, null, 2)``
  (``generateFetchOptions`` in ``server/src/core/server/services/fetch/fetch.ts``);
* the header: ``sha256=<hex>`` per active secret, joined with ``,``, HMAC-SHA256 keyed with the
  whole secret string (``generateSignatures`` in
  ``server/src/core/server/models/settings/signingSecret/helpers.ts``; secrets are ``empsec_<hex>``,
  ``server/src/core/server/models/tenant/externalModerationPhase.ts``);
* how Coral reads the answer: non-2xx, 204, ``""`` or ``{}`` = no opinion (``processPhase`` in
  ``external.ts``), else the body is validated by ``ExternalModerationResponseSchema`` (mirrored
  by :func:`validate_response`, with the cases of ``external.spec.ts``), and a ``status`` ends the
  pipeline (``mergePhaseResult`` in ``server/src/core/server/services/comments/pipeline/helpers.ts``).
"""

from __future__ import annotations

import json
from typing import Any

# two signing secrets shaped like Coral's (generateSigningSecret("empsec", …)): old and new
OLD_SECRET = b"empsec_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
NEW_SECRET = b"empsec_fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

# a known answer computed with Node's crypto exactly as Coral does (JSON.stringify(data, null, 2),
# createHmac("sha256", secret).update(body).digest().toString("hex"), joined with ","): signed
# with both secrets, as Coral sends during a rotation
GOLDEN_REQUEST: dict[str, Any] = {
    "action": "NEW",
    "comment": {"body": '<p>Ești un <b>idiot</b> 😀 &amp; "quoted"</p>', "parentID": None},
    "author": {"id": "baf4e943-3594-4fcc-b2ba-3e8de7a76352", "role": "COMMENTER"},
    "story": {
        "id": "245b3856-b0a0-4d2f-a6bb-58c71f18d6a6",
        "url": "http://localhost:1313/posts/a-story-url/",
    },
    "site": {"id": "a4bede88-2d2c-4424-bc18-4322a9e285a6"},
    "tenantID": "19ba5794-7eeb-4d46-a81b-c00c61672501",
    "tenantDomain": "localhost",
}
GOLDEN_HEADER = (
    "sha256=64b8ce077d95ac8b38b70770a5866c6b707ba1d56d78b41a4ae77a83f7b073d5,"
    "sha256=fa5b6bf766a499b9e25c89979e941efe4fd78c7916ed0345d9ed9e3e71a664da"
)

COMMENT_STATUS = {"NONE", "APPROVED", "REJECTED", "PREMOD", "SYSTEM_WITHHELD"}
REJECTION_CODES = {
    "OFFENSIVE", "ABUSIVE", "SPAM", "BANNED_WORD", "AD", "ILLEGAL_CONTENT", "HARASSMENT_BULLYING",
    "MISINFORMATION", "HATE_SPEECH", "IRRELEVANT_CONTENT", "OTHER",
}  # fmt: skip
FLAG_REASONS = {"COMMENT_DETECTED_TOXIC", "COMMENT_DETECTED_SPAM"}
TAGS = {"FEATURED", "STAFF"}


def request(
    body: str = "Here's a comment!",
    *,
    action: str = "NEW",
    parent: str | None = None,
    story_id: str = "245b3856-b0a0-4d2f-a6bb-58c71f18d6a6",
    story_url: str = "http://localhost:1313/posts/a-story-url/",
) -> dict[str, Any]:
    """A request of the documented example's shape (EXTERNAL_MODERATION_PHASES.md)."""
    return {
        "action": action,
        "comment": {"body": body, "parentID": parent},
        "author": {"id": "baf4e943-3594-4fcc-b2ba-3e8de7a76352", "role": "COMMENTER"},
        "story": {"id": story_id, "url": story_url},
        "site": {"id": "a4bede88-2d2c-4424-bc18-4322a9e285a6"},
        "tenantID": "19ba5794-7eeb-4d46-a81b-c00c61672501",
        "tenantDomain": "localhost",
    }


def serialise(data: dict[str, Any]) -> bytes:
    """``JSON.stringify(data, null, 2)`` as UTF-8 (Python's indent=2 writes the same bytes)."""
    return json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8")


def validate_response(body: Any) -> dict[str, Any]:
    """Coral's ``ExternalModerationResponseSchema`` (Joi, unknown keys stripped): the validated
    value, or AssertionError where Coral would throw (and then ignore the answer)."""
    assert isinstance(body, dict), f"answer is a {type(body).__name__}, not an object"
    out: dict[str, Any] = {}
    if "moderationAction" in body:
        action = body["moderationAction"]
        assert isinstance(action, dict)
        kept: dict[str, Any] = {}
        if "status" in action:
            assert action["status"] in COMMENT_STATUS, action
            kept["status"] = action["status"]
        if "rejectionReason" in action:
            reason = action["rejectionReason"]
            assert isinstance(reason, dict)
            if "code" in reason:
                assert reason["code"] in REJECTION_CODES, reason
            kept["rejectionReason"] = {
                k: v
                for k, v in reason.items()
                if k in ("code", "legalGrounds", "detailedExplanation", "customReason")
            }
        out["moderationAction"] = kept
    if "actions" in body:
        assert isinstance(body["actions"], list)
        for item in body["actions"]:
            assert item.get("actionType") == "FLAG", item
            assert item.get("reason") in FLAG_REASONS, item
        out["actions"] = [{"actionType": a["actionType"], "reason": a["reason"]} for a in body["actions"]]
    if "status" in body:
        assert body["status"] in COMMENT_STATUS, body
        out["status"] = body["status"]
    if "tags" in body:
        assert all(t in TAGS for t in body["tags"]), body
        out["tags"] = body["tags"]
    return out


def coral_reads(status_code: int, text: str) -> dict[str, Any] | None:
    """What Coral takes from an answer (processPhase): None = no opinion, else the validated body."""
    if not 200 <= status_code < 300 or status_code == 204 or text in ("", "{}"):
        return None
    return validate_response(json.loads(text))
