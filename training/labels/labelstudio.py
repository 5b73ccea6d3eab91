"""Label Studio: the labeling config commentmod expects, and reading a project's JSON export.

The export is Label Studio's standard JSON (a list of tasks)::

    [{"id": 17,
      "data": {"comment_id": "c1", "text": "...", "article_title": "...", "article_text": "...",
               "article_id": "a7", "lang": "ro"},
      "annotations": [{"id": 5, "completed_by": 3 | {"id": 3, "email": "ana@site"},
                       "created_at": "2024-05-01T10:00:00Z", "updated_at": "...",
                       "was_cancelled": false,
                       "result": [{"from_name": "abusive", "to_name": "text", "type": "choices",
                                   "value": {"choices": ["yes"]}}, ...]}]}]

Each annotation that is not cancelled is one decision: ``yes`` -> 1, ``no`` -> 0, a label the
annotator left open -> not judged. The moderator is the annotator's email (else ``ls-user:<id>``);
the time is ``updated_at``, else ``created_at``. The comment id is ``data.comment_id`` (else
``data.id``, else ``ls-task:<task id>``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, Final
from xml.sax.saxutils import quoteattr

from ...model.labels import LABEL_DESCRIPTIONS, LABELS
from ...model.record import LabelValue
from .decisions import (
    BadRow,
    LabelStoreError,
    Parsed,
    SkippedRow,
    comment_fields,
    label_value,
    make_decision,
    optional_str,
    parse_time,
)

COMMENT_TEXT_NAME: Final = "text"
ARTICLE_TITLE_NAME: Final = "article_title"
CHOICE_YES: Final = "yes"
CHOICE_NO: Final = "no"
TASK_ID_KEYS: Final = ("comment_id", "id")


def _choices(name: str) -> str:
    return (
        f'  <Header value={quoteattr(f"{name}: {LABEL_DESCRIPTIONS[name]}")} size="6"/>\n'
        f'  <Choices name="{name}" toName="{COMMENT_TEXT_NAME}" choice="single-radio" showInline="true">\n'
        f'    <Choice value="{CHOICE_YES}"/>\n'
        f'    <Choice value="{CHOICE_NO}"/>\n'
        "  </Choices>\n"
    )


LABELING_CONFIG: Final[str] = (
    "<View>\n"
    '  <View style="display: flex; gap: 1em">\n'
    '    <View style="flex: 1">\n'
    '      <Header value="Article" size="5"/>\n'
    '      <Text name="article_title" value="$article_title"/>\n'
    "    </View>\n"
    '    <View style="flex: 2">\n'
    '      <Header value="Comment" size="5"/>\n'
    f'      <Text name="{COMMENT_TEXT_NAME}" value="$text"/>\n'
    "    </View>\n"
    "  </View>\n" + "".join(_choices(name) for name in LABELS) + "</View>\n"
)


def labeling_config() -> str:
    """The Label Studio labeling config (XML) whose exports :func:`parse_labelstudio` reads.

    The comment is ``<Text name="text">`` with the article title beside it; one
    ``<Choices name=LABEL toName="text">`` with ``yes``/``no`` per label, none required
    (a label left open is "not judged").
    """
    return LABELING_CONFIG


def choice_result(name: str, value: bool) -> dict[str, Any]:
    """One ``choices`` result item of the labeling config: label ``name`` answered ``yes``/``no``.

    The shape of an annotation's result item, and of a prediction's (pre-annotation) in the tasks
    ``commentmod labels export-tasks`` writes; :func:`parse_labelstudio` reads it back.
    """
    if name not in LABELS:
        raise ValueError(f"unknown label {name!r}; the labeling config names {', '.join(LABELS)}")
    return {
        "from_name": name,
        "to_name": COMMENT_TEXT_NAME,
        "type": "choices",
        "value": {"choices": [CHOICE_YES if value else CHOICE_NO]},
    }


def annotator(completed_by: Any) -> str:
    """The annotator's name: the email of ``{"email": ...}``, else ``ls-user:<id>``, else ''."""
    if isinstance(completed_by, Mapping):
        email = completed_by.get("email")
        if isinstance(email, str) and email.strip():
            return email.strip()
        completed_by = completed_by.get("id")
    if completed_by is None or isinstance(completed_by, bool):
        return ""
    return f"ls-user:{completed_by}"


def _result_labels(results: Any) -> dict[str, LabelValue]:
    """The labels of an annotation's ``result`` list; ``ValueError`` for an unexpected result."""
    if not isinstance(results, list):
        raise ValueError(f"result is a {type(results).__name__}, expected a list")
    labels: dict[str, LabelValue] = {}
    for item in results:
        if not isinstance(item, Mapping) or item.get("type") != "choices":
            continue
        name = item.get("from_name")
        if not isinstance(name, str) or name not in LABELS:
            raise ValueError(
                f"choices {name!r} is not a label; the labeling config names {', '.join(LABELS)}"
            )
        value = item.get("value")
        picked = value.get("choices") if isinstance(value, Mapping) else None
        if not isinstance(picked, list) or len(picked) != 1:
            raise ValueError(f"{name}: expected one choice (yes or no), found {picked!r}")
        try:
            labels[name] = label_value(picked[0])
        except ValueError:
            raise ValueError(f"{name}: choice {picked[0]!r} is not yes or no") from None
    return labels


def _with_id(task: Mapping[str, Any], data: Mapping[str, Any]) -> Mapping[str, Any]:
    """``data``, with ``comment_id`` set to ``ls-task:<task id>`` when it names no comment id."""
    if any(optional_str(data.get(k)) for k in TASK_ID_KEYS) or task.get("id") is None:
        return data
    return {**data, "comment_id": f"ls-task:{task['id']}"}


def _annotation(task: Mapping[str, Any], index: int, part: int, ann: Any) -> Parsed:
    where = f"task {index} (id {task.get('id')}) annotation {part}"
    if not isinstance(ann, Mapping):
        return BadRow(where, f"annotation is a {type(ann).__name__}, expected an object")
    if ann.get("was_cancelled"):
        return SkippedRow(where, "annotation cancelled")
    data = task.get("data")
    if not isinstance(data, Mapping):
        return BadRow(where, "task has no data object")
    try:
        fields = comment_fields(_with_id(task, data), id_keys=TASK_ID_KEYS, text_keys=(COMMENT_TEXT_NAME,))
        labels = _result_labels(ann.get("result"))
        decided_at = parse_time(ann.get("updated_at") or ann.get("created_at"))
    except ValueError as exc:
        return BadRow(where, str(exc))
    return make_decision(
        fields,
        labels,
        where=where,
        line=index,
        part=part,
        moderator=annotator(ann.get("completed_by")),
        decided_at=decided_at,
    )


def parse_labelstudio(text: str) -> Iterator[Parsed]:
    """Decisions of a Label Studio JSON export; rows are placed by task position and annotation."""
    try:
        tasks = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LabelStoreError(
            f"not a Label Studio JSON export: invalid JSON at line {exc.lineno} column {exc.colno} "
            f"({exc.msg}); export the project as JSON (not JSON-MIN or CSV)"
        ) from None
    if not isinstance(tasks, list):
        raise LabelStoreError(
            f"a Label Studio JSON export is a list of tasks; this file holds a {type(tasks).__name__}"
        )
    for index, task in enumerate(tasks, 1):
        if not isinstance(task, Mapping):
            yield BadRow(f"task {index}", f"task is a {type(task).__name__}, expected an object")
            continue
        annotations = task.get("annotations") or []
        if not isinstance(annotations, list):
            yield BadRow(f"task {index} (id {task.get('id')})", "annotations is not a list")
            continue
        if not annotations:
            yield SkippedRow(f"task {index} (id {task.get('id')})", "task not annotated")
        for part, ann in enumerate(annotations, 1):
            yield _annotation(task, index, part, ann)
