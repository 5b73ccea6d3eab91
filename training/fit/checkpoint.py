"""The resumable state of a fine-tuning run and its checkpoint format (safetensors + JSON, no pickle).

Layout inside the run directory (removed when the run ends)::

    OUT/train_state/checkpoint/{model,optimizer}.safetensors + state.json
    OUT/train_state/best.safetensors

``state.json`` holds the :class:`TrainState`, the optimizers' scalar state and param groups, and
the config of the run: a resume with a different config is refused.
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

from .errors import TrainError

STATE_DIR = "train_state"
CHECKPOINT_DIR = "checkpoint"
BEST_NAME = "best.safetensors"
STATE_JSON = "state.json"


@dataclass
class TrainState:
    """Where a run is and what it has seen: everything a resume needs besides weights and optimizers."""

    step: int = 0  # optimizer steps done
    epoch: int = 0  # current epoch
    batch_pos: int = 0  # micro-batches done in the current epoch
    best_score: float | None = None
    best_step: int = -1
    bad_evals: int = 0
    last_eval_step: int = -1
    stopped_early: bool = False
    out_of_time: bool = False
    train_seconds: float = 0.0  # forward/backward/step time only (for s/step)
    wall_seconds: float = 0.0  # everything in the loop, evaluations and checkpoints included
    cpu_seconds: float = 0.0  # process CPU time of the steps (all threads): load-independent cost
    planned_total: int | None = None  # total steps after fitting the time budget (set once)
    first_step_seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)


def model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights as contiguous CPU tensors (what safetensors writes)."""
    return {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}


def save_best(state_dir: Path, model: nn.Module) -> None:
    """Keep the current weights as the best ones so far."""
    save_file(model_state(model), str(state_dir / BEST_NAME))


def load_best(state_dir: Path, model: nn.Module) -> bool:
    """Load the best weights kept by :func:`save_best` into ``model``; False when there are none."""
    best = state_dir / BEST_NAME
    if not best.is_file():
        return False
    model.load_state_dict(load_file(str(best)))
    return True


def has_checkpoint(state_dir: Path) -> bool:
    return (state_dir / CHECKPOINT_DIR / STATE_JSON).is_file()


def _flatten_optimizer(
    opt: torch.optim.Optimizer, prefix: str
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for pid, st in sd["state"].items():
        for key, value in st.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}.{pid}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{pid}.{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _unflatten_optimizer(
    tensors: dict[str, torch.Tensor], meta: dict[str, Any], prefix: str
) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        head, _, rest = name.partition(".")
        if head != prefix:
            continue
        pid, _, key = rest.partition(".")
        state.setdefault(int(pid), {})[key] = value
    for name, value in meta["scalars"].items():
        pid, _, key = name.partition(".")
        state.setdefault(int(pid), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def _optimizer_tensors(
    adamw: torch.optim.Optimizer, sparse_opt: torch.optim.Optimizer | None
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Both optimizers' tensors and the RNG states (one safetensors file), and their JSON metadata."""
    tensors, meta = _flatten_optimizer(adamw, "adamw")
    metas = {"adamw": meta}
    if sparse_opt is not None:
        t2, m2 = _flatten_optimizer(sparse_opt, "sparse")
        tensors.update(t2)
        metas["sparse"] = m2
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda{i}"] = s
    return tensors, metas


def _replace_dir(tmp: Path, final: Path) -> None:
    """Move ``tmp`` over ``final`` (the old one renamed aside first, then removed)."""
    old = final.with_name(final.name + ".old")
    if final.exists():
        if old.exists():
            shutil.rmtree(old)
        final.rename(old)
    tmp.rename(final)
    if old.exists():
        shutil.rmtree(old)


def save_checkpoint(
    state_dir: Path,
    model: nn.Module,
    adamw: torch.optim.Optimizer,
    sparse_opt: torch.optim.Optimizer | None,
    state: TrainState,
    config: dict[str, Any],
) -> Path:
    """Write the checkpoint atomically (a temp dir renamed over the old one)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_dir / (CHECKPOINT_DIR + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    save_file(model_state(model), str(tmp / "model.safetensors"))
    tensors, metas = _optimizer_tensors(adamw, sparse_opt)
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    payload = {"train_state": asdict(state), "optimizers": metas, "config": config}
    (tmp / STATE_JSON).write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    final = state_dir / CHECKPOINT_DIR
    _replace_dir(tmp, final)
    return final


def load_checkpoint(
    state_dir: Path,
    model: nn.Module,
    adamw: torch.optim.Optimizer,
    sparse_opt: torch.optim.Optimizer | None,
    config: dict[str, Any],
) -> TrainState:
    """Restore weights, optimizers and RNG states in place; the run's state. Refuses another config."""
    ckpt = state_dir / CHECKPOINT_DIR
    payload = json.loads((ckpt / STATE_JSON).read_text(encoding="utf-8"))
    saved_cfg = payload["config"]
    if saved_cfg != config:
        diff = sorted(k for k in set(saved_cfg) | set(config) if saved_cfg.get(k) != config.get(k))
        raise TrainError(
            f"cannot resume {state_dir.parent}: the config differs from the interrupted run in {diff}; "
            "resume with the same config and overrides, or train into a new --out"
        )
    model.load_state_dict(load_file(str(ckpt / "model.safetensors")))
    tensors = load_file(str(ckpt / "optimizer.safetensors"))
    adamw.load_state_dict(_unflatten_optimizer(tensors, payload["optimizers"]["adamw"], "adamw"))
    if sparse_opt is not None:
        sparse_opt.load_state_dict(_unflatten_optimizer(tensors, payload["optimizers"]["sparse"], "sparse"))
    torch.set_rng_state(tensors["rng.torch"])
    if torch.cuda.is_available():
        cuda_states = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda")]
        if cuda_states:
            torch.cuda.set_rng_state_all(cuda_states)
    return TrainState(**payload["train_state"])
