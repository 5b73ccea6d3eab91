"""Drive a running Label Studio server with ``label-studio-sdk``; run by the Label Studio venv's Python.

``tests/test_labelstudio_server.py`` runs it as
``.venv-ls/bin/python tests/labelstudio_driver.py PLAN.json`` so that the SDK and Label Studio's
Django stack stay out of the project's venv. The plan (JSON)::

    {"url": "http://127.0.0.1:PORT", "token": "...", "config": "tasks.xml", "tasks": "tasks.json",
     "answers": [{"comment_id": "c1", "result": {"abusive": "yes", "mocking": "no"},
                  "cancelled": false}, ...],
     "export": "export.json"}

It creates a project with the labeling config, imports the tasks, submits one annotation per
answer through the API (a label missing from ``result`` is left open), exports the project as
Label Studio JSON to ``export`` and prints a JSON summary (project id, import counts, task ids and
the predictions the server holds, per comment id).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from label_studio_sdk import LabelStudio


def _choices(result: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"from_name": name, "to_name": "text", "type": "choices", "value": {"choices": [choice]}}
        for name, choice in result.items()
    ]


def main(plan_path: str) -> int:
    plan = json.loads(Path(plan_path).read_text(encoding="utf-8"))
    client = LabelStudio(base_url=plan["url"], api_key=plan["token"])
    config = Path(plan["config"]).read_text(encoding="utf-8")
    tasks = json.loads(Path(plan["tasks"]).read_text(encoding="utf-8"))
    project = client.projects.create(title="commentmod export-tasks", label_config=config)
    imported = client.projects.import_tasks(id=project.id, request=tasks, return_task_ids=True)
    by_comment, predictions = {}, {}
    for task in client.tasks.list(project=project.id, fields="all"):
        by_comment[task.data["comment_id"]] = task.id
        predictions[task.data["comment_id"]] = [
            {"model_version": p.model_version, "score": p.score, "result": p.result}
            for p in task.predictions or []
        ]
    for answer in plan["answers"]:
        client.annotations.create(
            id=by_comment[answer["comment_id"]],
            result=_choices(answer["result"]),
            was_cancelled=bool(answer.get("cancelled", False)),
        )
    export = client.projects.exports.as_json(project.id)
    Path(plan["export"]).write_text(json.dumps(export, ensure_ascii=False), encoding="utf-8")
    summary = {
        "project": project.id,
        "task_count": getattr(imported, "task_count", None),
        "prediction_count": getattr(imported, "prediction_count", None),
        "tasks": by_comment,
        "predictions": predictions,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
