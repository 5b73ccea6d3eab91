"""The classifier: encoder + mean pooling over the attention mask + linear head (3 logits).

Run directory layout (what ``train`` writes and ``evaluate``/``export`` read)::

    RUN_DIR/
      config.json          encoder config (transformers BertConfig)
      model.safetensors    all weights: ``encoder.*`` and ``head.*``
      tokenizer.json       the tokenizer (tokenizers library format)
      commentmod_run.json  RunInfo: labels, context rule, thresholds, temperature, data sources, config
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedModel

from ...model.errors import CommentmodError
from ...model.inputs import ContextRule
from ...model.labels import LABELS

RUN_INFO_NAME = "commentmod_run.json"
WEIGHTS_NAME = "model.safetensors"


class RunDirError(CommentmodError):
    """A run directory is missing files or holds something else."""


@dataclass
class RunInfo:
    """What a trained run directory says about itself."""

    labels: list[str] = field(default_factory=lambda: list(LABELS))
    context_rule: ContextRule = field(default_factory=ContextRule)
    thresholds: dict[str, float] = field(default_factory=lambda: {k: 0.5 for k in LABELS})
    temperature: dict[str, float] = field(default_factory=lambda: {k: 1.0 for k in LABELS})
    data_sources: list[dict[str, Any]] = field(default_factory=list)
    training_config: dict[str, Any] = field(default_factory=dict)
    base_model: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def save(self, run_dir: Path) -> None:
        data = {**asdict(self), "context_rule": self.context_rule.to_dict()}
        (Path(run_dir) / RUN_INFO_NAME).write_text(
            json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )

    @classmethod
    def load(cls, run_dir: Path) -> RunInfo:
        path = Path(run_dir) / RUN_INFO_NAME
        if not path.is_file():
            raise RunDirError(
                f"{run_dir} has no {RUN_INFO_NAME}; point at a directory written by `commentmod train`"
            )
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["context_rule"] = _stored_rule(path, known.get("context_rule", {}))
        return cls(**known)


def _stored_rule(path: Path, value: Any) -> ContextRule:
    """The ``context_rule`` of a run info file (the JSON of :meth:`ContextRule.to_dict`)."""
    fix = "train again, or restore the file as `commentmod train` wrote it"
    if not isinstance(value, dict):
        raise RunDirError(f"{path}: context_rule is a {type(value).__name__}, expected an object; {fix}")
    try:
        return ContextRule.from_dict(value)
    except ValueError as exc:  # a value of the wrong type, or an unusable layout
        raise RunDirError(f"{path}: context_rule.{exc}; {fix}") from None


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of token vectors where the mask is 1 (e5's pooling)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * mask).sum(dim=1)
    counts = mask.sum(dim=1).clamp(min=1e-9)
    return summed / counts


class CommentClassifier(nn.Module):
    """Encoder + mean pooling + dropout + linear head → one logit per label."""

    def __init__(self, encoder: PreTrainedModel, num_labels: int = len(LABELS), dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, num_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        hidden = out.last_hidden_state
        device_type = hidden.device.type
        if torch.is_autocast_enabled(device_type):
            # under bf16 autocast (training): pool and classify in fp32 so the logits keep full
            # precision (bf16 logits would tie in the PR-AUC and the thresholds); the head is tiny
            with torch.autocast(device_type=device_type, enabled=False):
                return self._classify(hidden.float(), attention_mask)
        return self._classify(hidden, attention_mask)

    def _classify(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        pooled = mean_pool(hidden, attention_mask)
        logits: torch.Tensor = self.head(self.dropout(pooled))
        return logits

    @classmethod
    def from_base(
        cls, base_dir: Path, num_labels: int = len(LABELS), dropout: float = 0.1
    ) -> CommentClassifier:
        """A fresh classifier on top of a Hugging Face encoder checkpoint directory."""
        base_dir = Path(base_dir)
        if not (base_dir / "config.json").is_file():
            raise RunDirError(
                f"{base_dir} is not a Hugging Face checkpoint (no config.json); "
                "build one with `commentmod base-model --out DIR`"
            )
        encoder = AutoModel.from_pretrained(str(base_dir), add_pooling_layer=False)
        return cls(encoder, num_labels=num_labels, dropout=dropout)

    def save(self, run_dir: Path, tokenizer_json: Path, info: RunInfo) -> None:
        """Write the run directory (weights, encoder config, tokenizer, run info)."""
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        self.encoder.config.save_pretrained(str(run_dir))
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        save_file(state, str(run_dir / WEIGHTS_NAME))
        if Path(tokenizer_json).resolve() != (run_dir / "tokenizer.json").resolve():
            shutil.copyfile(tokenizer_json, run_dir / "tokenizer.json")
        info.save(run_dir)

    @classmethod
    def load(cls, run_dir: Path) -> tuple[CommentClassifier, RunInfo]:
        """Load a run directory written by :meth:`save` (safetensors only, no pickle)."""
        run_dir = Path(run_dir)
        for name in ("config.json", WEIGHTS_NAME, "tokenizer.json", RUN_INFO_NAME):
            if not (run_dir / name).is_file():
                raise RunDirError(f"{run_dir} lacks {name}; is it a directory written by `commentmod train`?")
        info = RunInfo.load(run_dir)
        config = AutoConfig.from_pretrained(str(run_dir))
        encoder = AutoModel.from_config(config, add_pooling_layer=False)
        model = cls(encoder, num_labels=len(info.labels))
        state = load_file(str(run_dir / WEIGHTS_NAME))
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.endswith("position_ids")]
        if missing or unexpected:
            raise RunDirError(
                f"{run_dir}: weights do not match the model "
                f"(missing {missing[:5]}, unexpected {unexpected[:5]})"
            )
        model.eval()
        return model, info
