"""What the Coral endpoint answers for a scored comment: the policy (YAML, pydantic) and the decision.

A policy gives, per label, rules ``{at: <score> | model, action: none | flag | withhold | reject}``:
a label's action is the strongest action among its rules whose ``at`` the comment's score reaches
(``model``: the artifact's calibrated threshold, i.e. ``Result.flags[label]``); the comment's action
is the strongest over the labels. In Coral's terms (``server/EXTERNAL_MODERATION_PHASES.md``,
``server/src/core/server/services/comments/pipeline/phases/external.ts``):

* ``none``     -> HTTP 204, no opinion; Coral goes on with its other phases.
* ``flag``     -> ``{"actions": [{"actionType": "FLAG", "reason": …}]}`` and no status: the comment
  is published (unless a later pre-moderation phase holds it) and listed in Coral's Reported queue.
* ``withhold`` -> ``{"status": "SYSTEM_WITHHELD", "actions": [FLAG …]}``: not published, waits in
  the Pending queue for a moderator (what Coral's own toxicity phase answers).
* ``reject``   -> ``{"status": "REJECTED", "moderationAction": {"status": "REJECTED",
  "rejectionReason": {"code": …}}, "actions": [FLAG …]}``; Coral's ``moderate()`` reads the status
  *inside* ``moderationAction``, so it is sent there too.

``status: "NONE"`` is never answered: a status ends Coral's pipeline, so ``NONE`` would skip the
pre-moderation phases that run after the external ones.

Labels judged against the article (:data:`commentmod.model.labels.CONTEXT_LABELS`: off_topic) are
left out of the decision when the comment has no article context: :func:`decide` takes
``not_judged`` and lists those labels in :attr:`Decision.not_judged`; their rules never act.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..model.errors import CommentmodError
from ..model.labels import LABELS
from ..model.yamlfile import load_yaml_mapping
from .result import Result

Action = Literal["none", "flag", "withhold", "reject"]
ACTIONS: tuple[Action, ...] = ("none", "flag", "withhold", "reject")  # weakest to strongest
_RANK = {a: k for k, a in enumerate(ACTIONS)}

# the values Coral's external phase accepts (external.ts ExternalModerationResponseSchema)
FlagReason = Literal["COMMENT_DETECTED_TOXIC", "COMMENT_DETECTED_SPAM"]
RejectionCode = Literal[
    "OFFENSIVE",
    "ABUSIVE",
    "SPAM",
    "BANNED_WORD",
    "AD",
    "ILLEGAL_CONTENT",
    "HARASSMENT_BULLYING",
    "MISINFORMATION",
    "HATE_SPEECH",
    "IRRELEVANT_CONTENT",
    "OTHER",
]


class CoralPolicyError(CommentmodError):
    """The Coral policy file is missing, not YAML, or does not validate."""


class Rule(BaseModel):
    """At or above ``at`` (a score, or ``model`` = the artifact's threshold), at least ``action``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: Annotated[float, Field(gt=0.0, le=1.0)] | Literal["model"] = Field(
        description="score in (0, 1] at or above which the action applies, or 'model'"
    )
    action: Action = Field(description="none | flag | withhold | reject")


class LabelPolicy(BaseModel):
    """The rules of one label and the words Coral is told when they act."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: FlagReason = Field(description="reason of the FLAG action sent to Coral")
    rejection_code: RejectionCode = Field("OTHER", description="Coral rejection code when rejecting")
    rules: tuple[Rule, ...] = Field((), description="the rules; the strongest one reached applies")


class CoralPolicy(BaseModel):
    """Per label (of :data:`commentmod.model.labels.LABELS`): the rules; a label not listed never acts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    labels: dict[str, LabelPolicy] = Field(default_factory=dict)

    @field_validator("labels")
    @classmethod
    def _known_labels(cls, value: dict[str, LabelPolicy]) -> dict[str, LabelPolicy]:
        unknown = sorted(set(value) - set(LABELS))
        if unknown:
            raise ValueError(f"unknown label(s) {', '.join(unknown)}; the labels are {', '.join(LABELS)}")
        return value

    def rejects(self) -> bool:
        """Whether some rule can reject a comment."""
        return any(r.action == "reject" for lp in self.labels.values() for r in lp.rules)


# configs/coral-policy.yaml holds the same policy, commented (a test keeps them equal)
DEFAULT_POLICY_DATA: dict[str, Any] = {
    "version": 1,
    "labels": {
        "abusive": {
            "reason": "COMMENT_DETECTED_TOXIC",
            "rejection_code": "ABUSIVE",
            "rules": [{"at": "model", "action": "flag"}, {"at": 0.9, "action": "withhold"}],
        },
        "mocking": {
            "reason": "COMMENT_DETECTED_TOXIC",
            "rejection_code": "OFFENSIVE",
            "rules": [{"at": "model", "action": "flag"}],
        },
        "off_topic": {
            "reason": "COMMENT_DETECTED_SPAM",
            "rejection_code": "IRRELEVANT_CONTENT",
            "rules": [{"at": "model", "action": "flag"}],
        },
    },
}
DEFAULT_POLICY = CoralPolicy.model_validate(DEFAULT_POLICY_DATA)


def _describe(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'top'}: {e['msg']}" for e in exc.errors())


def load_policy(path: Path | None) -> CoralPolicy:
    """The policy of a YAML file, or :data:`DEFAULT_POLICY` when ``path`` is None."""
    if path is None:
        return DEFAULT_POLICY
    data = load_yaml_mapping(path, "Coral policy", hint="pass --policy configs/coral-policy.yaml")
    try:
        return CoralPolicy.model_validate(data)
    except ValidationError as exc:
        raise CoralPolicyError(
            f"Coral policy {path} is not valid: {_describe(exc)} (see configs/coral-policy.yaml)"
        ) from None


@dataclass(frozen=True)
class Decision:
    """The policy's answer for one comment: ``action`` and what Coral is told with it.

    ``labels``: the action of each judged label; ``not_judged``: labels left out (no article context).
    """

    action: Action
    reasons: tuple[str, ...] = ()
    rejection_code: str | None = None
    labels: tuple[tuple[str, Action], ...] = ()
    not_judged: tuple[str, ...] = ()


def _strongest(actions: Iterable[Action]) -> Action:
    return max(actions, key=_RANK.__getitem__, default="none")


def _reached(rule: Rule, score: float, model_flag: bool) -> bool:
    return model_flag if isinstance(rule.at, str) else score >= rule.at


def _label_action(lp: LabelPolicy, score: float, model_flag: bool) -> Action:
    return _strongest(r.action for r in lp.rules if _reached(r, score, model_flag))


def decide(result: Result, policy: CoralPolicy, not_judged: tuple[str, ...] = ()) -> Decision:
    """The decision for a scored comment; a comment that was not scored (status not ``ok``) is ``none``.

    Labels in ``not_judged`` (and labels the result has no score for) never act."""
    if result.status != "ok" or result.scores is None:
        return Decision("none", not_judged=not_judged)
    flags = result.flags or {}
    acting: list[tuple[str, Action]] = []
    for label, lp in policy.labels.items():
        if label in not_judged or label not in result.scores:
            continue
        acting.append((label, _label_action(lp, float(result.scores[label]), bool(flags.get(label)))))
    action = _strongest(a for _, a in acting)
    if action == "none":
        return Decision("none", labels=tuple(acting), not_judged=not_judged)
    reasons = tuple(dict.fromkeys(policy.labels[lb].reason for lb, a in acting if a != "none"))
    code = None
    if action == "reject":  # the rejecting label with the highest score names the reason
        rejecting = [lb for lb, a in acting if a == "reject"]
        code = policy.labels[max(rejecting, key=lambda lb: result.scores[lb])].rejection_code  # type: ignore[index]
    return Decision(action, reasons, code, tuple(acting), not_judged)


def coral_answer(decision: Decision) -> dict[str, Any] | None:
    """The JSON body answered to Coral, or None for HTTP 204 (no opinion). Never ``status: NONE``."""
    if decision.action == "none":
        return None
    body: dict[str, Any] = {"actions": [{"actionType": "FLAG", "reason": r} for r in decision.reasons]}
    if decision.action == "withhold":
        body["status"] = "SYSTEM_WITHHELD"
    elif decision.action == "reject":
        body["status"] = "REJECTED"
        body["moderationAction"] = {
            "status": "REJECTED",
            "rejectionReason": {"code": decision.rejection_code or "OTHER"},
        }
    return body
