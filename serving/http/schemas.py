"""Request and response models of the ``/v1`` API: what OpenAPI shows and what responses are checked against.

A result is serialised by :meth:`commentmod.serving.result.Result.to_dict` (the one serialisation,
scores rounded to 6 places); :class:`ResultOut` only declares that shape. The ``comments`` of a
request are typed loosely on purpose: an item that is not a valid comment (null, a number, an object
without ``text``) becomes an ``error`` result in its place, not a 422 for the whole request.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema


class CommentIn(BaseModel):
    """A comment with optional article context (its own context wins over the request's ``article``)."""

    id: str | None = Field(default=None, description="your id for the comment, echoed in its result")
    text: str = Field(description="the comment text; longer than the limit: scored on its first part")
    article_title: str | None = Field(default=None, description="title of the article it is under")
    article_text: str | None = Field(default=None, description="text of that article (its start is used)")


_COMMENT_ITEM = {
    "anyOf": [{"type": "string", "description": "the comment text alone"}, CommentIn.model_json_schema()],
    "description": "a comment: its text, or an object with text, id and article context",
}
CommentItem = Annotated[Any, WithJsonSchema(_COMMENT_ITEM)]


class ArticleIn(BaseModel):
    """The article every comment of the request is under (a comment's own context takes precedence)."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, description="article title")
    text: str | None = Field(default=None, description="article text")


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comments: list[CommentItem] = Field(description="comments to score, answered in the same order")
    article: ArticleIn | None = Field(default=None, description="a shared article for all the comments")


class ModelRef(BaseModel):
    """The model that scored: ``id@version`` is the ``model`` column of ``commentmod score`` outputs."""

    id: str = Field(description="the artifact's name")
    version: str = Field(description="first 12 hex digits of the model file's SHA-256")


class Truncated(BaseModel):
    chars: int = Field(description="the comment's length in characters")
    scored_chars: int = Field(description="characters scored: the first ones")


class ResultOut(BaseModel):
    """One comment's result (``Result.to_dict()``); scores and flags are null when not scored."""

    id: str | None
    scores: dict[str, float] | None = Field(description="probability per label, 6 decimal places")
    flags: dict[str, bool] | None = Field(description="score >= the label's threshold")
    flagged: bool = Field(description="any flag set")
    status: Literal["ok", "empty", "error"] = Field(description="ok: scored; empty: blank; error: see error")
    error: str | None = Field(description="why the item was not scored (status error)")
    truncated: Truncated | None = Field(description="set when only the first characters were scored")


class ScoreResponse(BaseModel):
    model: ModelRef
    results: list[ResultOut] = Field(description="one per comment, in request order")


class LabelInfo(BaseModel):
    name: str
    description: str
    threshold: float = Field(description="a score at or above it sets the label's flag")


class SourceInfo(BaseModel):
    name: str
    licence: str
    rows: int = Field(description="training rows taken from the source")
    commercial_ok: bool


class Limits(BaseModel):
    max_body_bytes: int = Field(description="a larger request body is refused with 413")
    max_comments: int = Field(description="more comments in one request: 413")
    max_comment_chars: int | None = Field(description="a longer comment is scored on its first ones")


class RuntimeInfo(BaseModel):
    backend: str = Field(description="what runs the transformer: onnxruntime or openvino")
    plan: str = Field(description="the artifact's runtime plan it runs (e.g. int8, bf16, ov-int8)")
    precision: str = Field(description="what its matrix products compute in: fp32, bf16 or int8")


class ModelInfo(BaseModel):
    id: str
    version: str
    labels: list[LabelInfo]
    thresholds: dict[str, float]
    languages: list[str] | None = Field(description="languages the model was trained on, when recorded")
    training_sources: list[SourceInfo] = Field(description="training data sources and their licences")
    licences: list[str] = Field(description="distinct licences of the training sources")
    hybrid: bool = Field(description="scores blend the transformer with a character n-gram model")
    created_at: str | None
    format_version: int | None = Field(description="artifact format version")
    commentmod_version: str = Field(description="version of the serving package")
    limits: Limits
    runtime: RuntimeInfo | None = Field(default=None, description="the runtime plan serving the model")


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]
    model: ModelRef
    in_flight: int = Field(description="scoring requests running or waiting now")
    capacity: int = Field(description="scoring requests admitted at once; one more gets 503")


class ErrorOut(BaseModel):
    detail: str = Field(description="what went wrong and what to do")


def scorer_inputs(request: ScoreRequest) -> list[Any]:
    """The request's comments as Scorer inputs, each given the shared article where it has none.

    Items are passed on as they are otherwise: the Scorer turns an invalid one into an ``error``
    Result naming the problem (:func:`commentmod.serving.scorer_inputs.parse_input`).
    """
    article = request.article
    if article is None:
        return list(request.comments)
    shared = {"article_title": article.title, "article_text": article.text}
    out: list[Any] = []
    for item in request.comments:
        if isinstance(item, str):
            out.append({"text": item, **shared})
        elif isinstance(item, dict) and "text" in item:  # without text: an error naming its own fields
            out.append({**item, **{k: v for k, v in shared.items() if v is not None and item.get(k) is None}})
        else:
            out.append(item)
    return out
