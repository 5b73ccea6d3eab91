"""Contract tests of ``POST /v1/coral/moderate`` against Coral Talk's own request and response shapes.

Coral's side (the request it sends, how it signs, how it reads the answer) is in
``tests/coral_contract.py``, built from Coral's source: ``server/src/core/server/services/comments/
pipeline/phases/external.ts`` (request, response schema, 204 handling), ``server/src/core/server/
services/fetch/fetch.ts`` and ``server/src/core/server/models/settings/signingSecret/helpers.ts``
(signature), ``server/EXTERNAL_MODERATION_PHASES.md`` (examples). Scores here come from a fake
``score`` so each answer is known; ``test_coral_real_model.py`` runs the real tiny artifact.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from coral_contract import (
    GOLDEN_HEADER,
    GOLDEN_REQUEST,
    NEW_SECRET,
    OLD_SECRET,
    coral_reads,
    request,
    serialise,
)
from fastapi import FastAPI
from fastapi.testclient import TestClient

from commentmod.serving.coral import (
    MODERATE_PATH,
    NOT_JUDGED_HEADER,
    STORY_HEADER,
    CoralSettings,
    coral_router,
)
from commentmod.serving.coral_policy import DEFAULT_POLICY, CoralPolicy
from commentmod.serving.coral_signature import SIGNATURE_HEADER, sign
from commentmod.serving.result import Result, not_scored
from commentmod.serving.stories import Story, StoryStore

LABELS = ("abusive", "mocking", "off_topic")


class FakeScore:
    """The app's ``score`` call: records the items, answers fixed scores (flags at 0.5)."""

    def __init__(self, scores: Mapping[str, float] | None = None, fail: Exception | None = None) -> None:
        self.scores = dict(scores or dict.fromkeys(LABELS, 0.01))
        self.fail = fail
        self.items: list[dict[str, Any]] = []

    async def __call__(self, items: list[dict[str, Any]]) -> list[Result]:
        self.items.extend(items)
        if self.fail is not None:
            raise self.fail
        out = []
        for item in items:
            if not item["text"].strip():
                out.append(not_scored(None, "empty"))
                continue
            flags = {k: v >= 0.5 for k, v in self.scores.items()}
            out.append(Result(None, self.scores, flags, any(flags.values())))
        return out


def client_for(
    score: FakeScore,
    secrets: tuple[bytes, ...] = (OLD_SECRET,),
    policy: CoralPolicy = DEFAULT_POLICY,
    stories: StoryStore | None = None,
) -> TestClient:
    app = FastAPI()
    app.include_router(coral_router(CoralSettings(secrets, policy, stories), score))
    return TestClient(app)


def post(client: TestClient, data: dict[str, Any], signed_with: tuple[bytes, ...] = (OLD_SECRET,)) -> Any:
    body = serialise(data)
    headers = {"Content-Type": "application/json"}
    if signed_with:
        headers[SIGNATURE_HEADER] = sign(body, signed_with)
    return client.post(MODERATE_PATH, content=body, headers=headers)


# --------------------------------------------------------------------------- signatures


def test_golden_signature_from_node_is_accepted() -> None:
    """Body and header exactly as Coral's Node code makes them (a known answer from Node's crypto)."""
    body = serialise(GOLDEN_REQUEST)
    assert sign(body, (OLD_SECRET, NEW_SECRET)) == GOLDEN_HEADER
    for secrets in [(OLD_SECRET,), (NEW_SECRET,), (NEW_SECRET, OLD_SECRET)]:
        client = client_for(FakeScore(), secrets)
        resp = client.post(MODERATE_PATH, content=body, headers={SIGNATURE_HEADER: GOLDEN_HEADER})
        assert resp.status_code == 204, (secrets, resp.text)


@pytest.mark.parametrize(
    ("ours", "coral_signs_with"),
    [
        ((OLD_SECRET,), (OLD_SECRET,)),  # one secret
        ((OLD_SECRET,), (NEW_SECRET, OLD_SECRET)),  # Coral rotated, old secret still active
        ((NEW_SECRET,), (NEW_SECRET, OLD_SECRET)),  # we already hold the new one
        ((OLD_SECRET, NEW_SECRET), (NEW_SECRET,)),  # our file holds both; old one now expired
    ],
)
def test_valid_and_rotated_signatures_accepted(
    ours: tuple[bytes, ...], coral_signs_with: tuple[bytes, ...]
) -> None:
    score = FakeScore()
    resp = post(client_for(score, ours), request(), signed_with=coral_signs_with)
    assert resp.status_code == 204
    assert len(score.items) == 1


def _tamper(header: str) -> str:
    return header[:-1] + ("0" if header[-1] != "0" else "1")


@pytest.mark.parametrize(
    "header",
    [
        None,  # unsigned
        "",
        "sha256=",
        "sha256=not-hex",
        "md5=" + "0" * 32,
        "sha1=" + "0" * 40,
        "sha256=" + "0" * 64,
        "SIGNED_WITH_WRONG_SECRET",
        "TAMPERED",
        "SIGNED_COMPACT_JSON",
    ],
)
def test_missing_or_wrong_signatures_refused(header: str | None) -> None:
    score = FakeScore()
    client = client_for(score, (OLD_SECRET,))
    data = request("you idiot")
    body = serialise(data)
    if header == "SIGNED_WITH_WRONG_SECRET":
        header = sign(body, (NEW_SECRET,))
    elif header == "TAMPERED":
        header = _tamper(sign(body, (OLD_SECRET,)))
    elif header == "SIGNED_COMPACT_JSON":  # same JSON, other bytes: the raw body is what is signed
        header = sign(json.dumps(data).encode(), (OLD_SECRET,))
    headers = {} if header is None else {SIGNATURE_HEADER: header}
    resp = client.post(MODERATE_PATH, content=body, headers=headers)
    assert resp.status_code == 401
    assert score.items == []  # nothing scored before the signature is checked


def test_signature_checked_before_parsing_and_body_limits() -> None:
    client = client_for(FakeScore(), (OLD_SECRET,))
    garbage = b"not json at all"
    assert client.post(MODERATE_PATH, content=garbage).status_code == 401
    signed = {SIGNATURE_HEADER: sign(garbage, (OLD_SECRET,))}
    assert client.post(MODERATE_PATH, content=garbage, headers=signed).status_code == 400
    no_comment = serialise({"action": "NEW", "story": {"id": "s"}})
    resp = client.post(
        MODERATE_PATH, content=no_comment, headers={SIGNATURE_HEADER: sign(no_comment, (OLD_SECRET,))}
    )
    assert resp.status_code == 422
    small = FastAPI()
    small.include_router(coral_router(CoralSettings((OLD_SECRET,), max_body_bytes=100), FakeScore()))
    big = serialise(request("x" * 200))
    resp = TestClient(small).post(
        MODERATE_PATH, content=big, headers={SIGNATURE_HEADER: sign(big, (OLD_SECRET,))}
    )
    assert resp.status_code == 413


# --------------------------------------------------------------------------- answers


def test_no_opinion_is_204_without_body() -> None:
    resp = post(client_for(FakeScore()), request("Here's a comment!"))
    assert resp.status_code == 204
    assert resp.content == b""
    assert coral_reads(resp.status_code, resp.text) is None


def test_flag_answer_has_actions_and_no_status() -> None:
    score = FakeScore({"abusive": 0.6, "mocking": 0.7, "off_topic": 0.01})
    resp = post(client_for(score), request("Here's a reply!", parent="d79b787f-f406-49a0-a179-72e3652e54be"))
    assert resp.status_code == 200
    seen = coral_reads(resp.status_code, resp.text)
    assert seen == {"actions": [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"}]}
    assert "status" not in resp.json()  # the pipeline goes on: pre-moderation still applies


def test_withhold_answer_is_system_withheld_with_flag() -> None:
    score = FakeScore({"abusive": 0.95, "mocking": 0.01, "off_topic": 0.01})
    resp = post(client_for(score), request("you absolute idiot", action="EDIT"))
    seen = coral_reads(resp.status_code, resp.text)
    assert seen == {
        "status": "SYSTEM_WITHHELD",
        "actions": [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"}],
    }


def test_default_policy_never_rejects_nor_answers_status_none() -> None:
    for p in (1.0, 0.999, 0.9, 0.6, 0.0):
        score = FakeScore(dict.fromkeys(LABELS, p))
        resp = post(client_for(score), request("text"))
        if resp.status_code == 200:
            seen = coral_reads(resp.status_code, resp.text)
            assert seen is not None
            assert seen.get("status") not in ("REJECTED", "NONE", "APPROVED")
            assert "moderationAction" not in seen


def test_reject_only_when_policy_says_so() -> None:
    policy = CoralPolicy.model_validate(
        {
            "labels": {
                "abusive": {
                    "reason": "COMMENT_DETECTED_TOXIC",
                    "rejection_code": "ABUSIVE",
                    "rules": [{"at": "model", "action": "flag"}, {"at": 0.97, "action": "reject"}],
                },
                "off_topic": {
                    "reason": "COMMENT_DETECTED_SPAM",
                    "rejection_code": "IRRELEVANT_CONTENT",
                    "rules": [{"at": 0.5, "action": "flag"}],
                },
            }
        }
    )
    store = None
    score = FakeScore({"abusive": 0.98, "mocking": 0.99, "off_topic": 0.01})
    seen = coral_reads(*_answer(post(client_for(score, policy=policy, stories=store), request("x"))))
    assert seen == {
        "status": "REJECTED",
        "moderationAction": {"status": "REJECTED", "rejectionReason": {"code": "ABUSIVE"}},
        "actions": [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"}],
    }
    score = FakeScore({"abusive": 0.9, "mocking": 0.99, "off_topic": 0.01})  # mocking has no rules here
    seen = coral_reads(*_answer(post(client_for(score, policy=policy), request("x"))))
    assert seen == {"actions": [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"}]}


def _answer(resp: Any) -> tuple[int, str]:
    return resp.status_code, resp.text


def test_html_body_is_stripped_and_nothing_hidden() -> None:
    score = FakeScore()
    client = client_for(score)
    post(client, GOLDEN_REQUEST)
    post(client, request("<p>first line</p><p>second <i>line</i></p>"))
    post(client, request("plain text with &lt;b&gt; <3 and a<b"))
    post(client, request("hello <script>you idiot</script><!-- hidden insult -->"))
    texts = [item["text"] for item in score.items]
    assert texts[0] == 'Ești un idiot 😀 & "quoted"'
    assert texts[1] == "first line\nsecond line"
    assert "<3" in texts[2]
    assert "you idiot" in texts[3] and "hidden insult" in texts[3]


def test_empty_comment_is_no_opinion() -> None:
    resp = post(
        client_for(FakeScore({"abusive": 0.99, "mocking": 0.99, "off_topic": 0.99})), request("<p> </p>")
    )
    assert resp.status_code == 204


def test_score_failure_propagates_for_the_app_to_map() -> None:
    client = client_for(FakeScore(fail=RuntimeError("pool full")))
    with pytest.raises(RuntimeError, match="pool full"):
        post(client, request("hello"))


# --------------------------------------------------------------------------- stories


@pytest.fixture
def store(tmp_path: Path) -> StoryStore:
    s = StoryStore(tmp_path / "stories.sqlite", create=True)
    s.upsert(
        [
            Story(
                "4512", "https://www.localhost:1313/posts/a-story-url", "Library closes", "The council voted."
            ),
            Story("coral-id-2", "https://example.org/b", "Stadium", "Renovation costs."),
        ]
    )
    return s


def test_story_found_by_id_or_normalised_url(store: StoryStore) -> None:
    score = FakeScore()
    client = client_for(score, stories=store)
    by_url = post(client, request("a", story_id="245b3856-unknown-to-the-store"))
    by_id = post(client, request("b", story_id="coral-id-2", story_url="https://elsewhere.example/"))
    assert by_url.headers[STORY_HEADER] == "found"
    assert by_id.headers[STORY_HEADER] == "found"
    assert NOT_JUDGED_HEADER not in by_url.headers
    assert [(i["article_title"], i["article_text"]) for i in score.items] == [
        ("Library closes", "The council voted."),
        ("Stadium", "Renovation costs."),
    ]


def test_off_topic_not_judged_without_story(store: StoryStore) -> None:
    off = {"abusive": 0.01, "mocking": 0.01, "off_topic": 0.99}
    missing = post(
        client_for(FakeScore(off), stories=store), request("a", story_id="x", story_url="https://nope/")
    )
    no_store = post(client_for(FakeScore(off)), request("a"))
    for resp in (missing, no_store):
        assert resp.status_code == 204  # off_topic's rules never act without the article
        assert resp.headers[STORY_HEADER] == "missing"
        assert resp.headers[NOT_JUDGED_HEADER] == "off_topic"
    found = post(client_for(FakeScore(off), stories=store), request("a", story_id="4512"))
    assert coral_reads(*_answer(found)) == {
        "actions": [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_SPAM"}]
    }
