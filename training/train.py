"""Fine-tuning: batching, masked loss, the training loop, checkpoints and the final run directory.

What :func:`train` does:

1. reads the train/validation splits (a built DatasetDict, or one built on the fly),
   applies the row caps of the config, and tokenises every comment once with the
   shared input layout (:func:`commentmod.model.encode_comments`; training uses the
   first window of each comment, validation takes the max over all windows, as the
   scorer does);
2. trains ``CommentClassifier`` with AdamW (+ SparseAdam for the word embeddings when
   they are trained with sparse gradients), linear warmup/decay, gradient
   accumulation, length-grouped batches with dynamic padding, and a masked BCE loss
   (a label the source says nothing about is masked, never read as 0);
3. evaluates on validation every N steps (masked loss + per-label PR-AUC), keeps the
   best weights, stops early, and checkpoints (safetensors + JSON only) so that
   ``resume=True`` continues an interrupted run to the same result;
4. fits per-label temperature and thresholds on validation and writes the run
   directory with :meth:`CommentClassifier.save`.

Speed: the forward/backward pass runs under bf16 autocast where the hardware has fast bf16
(``precision``, see :mod:`commentmod.training.hardware`), with one torch thread per free core.
Periodic validation (model selection, early stopping) uses the training precision; the final
validation pass that fits temperatures and thresholds runs in fp32, the precision of the exported
model, so the shipped thresholds match the scores the artifact produces. Both are recorded in the
run info (``extra.precision``, ``extra.eval_precision``) and in every ``train_log.jsonl`` line.

Progress: ``on_step`` (the CLI's progress bar) after every step, or, without it, a log line with
step, loss, s/step, rows/s and ETA every ``PROGRESS_LOG_SECONDS``.

The module is longer than most because the loop, its checkpoint format and the run directory it
writes change together; the pure pieces (batching, loss, schedule, budget) are small functions.

Layout of the training state inside the run directory (removed when the run ends)::

    OUT/train_state/checkpoint/{model,optimizer}.safetensors + state.json
    OUT/train_state/best.safetensors
    OUT/train_log.jsonl      one JSON line per evaluation (kept)
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer
from torch import nn

from commentmod.model.errors import CommentmodError
from commentmod.model.inputs import ContextRule, SpecialIds, encode_comments
from commentmod.model.labels import LABELS
from commentmod.model.record import CommentRecord
from commentmod.training import calibration
from commentmod.training.config import DataConfig, TrainConfig
from commentmod.training.hardware import auto_threads, autocast, resolve_precision
from commentmod.training.modeling import WEIGHTS_NAME, CommentClassifier, RunInfo
from commentmod.training.predict import pad_batch, window_logits

log = logging.getLogger(__name__)

STATE_DIR = "train_state"
CHECKPOINT_DIR = "checkpoint"
BEST_NAME = "best.safetensors"
LOG_NAME = "train_log.jsonl"
# the schedule is fitted to max_train_minutes once, after BUDGET_PROBE_STEPS steps AND a tenth of the
# budget (a speed measured over a few steps on a shared machine is noise), but not before
# BUDGET_MIN_STEPS steps; runs shorter than that are not fitted (the guard still stops them)
BUDGET_PROBE_STEPS = 20
BUDGET_MIN_STEPS = 5
BUDGET_PROBE_SHARE = 0.1
# without an on_step callback (no terminal), a progress log line at most this often
PROGRESS_LOG_SECONDS = 30.0

StepCallback = Callable[[int, int, float], None]


class TrainError(CommentmodError):
    """Training cannot start or continue (missing data, bad run directory, mismatched resume)."""


# --- data -------------------------------------------------------------------------------------------


def read_split(dataset_dir: Path, split: str) -> list[CommentRecord]:
    """Records of one split of a build directory written by ``commentmod data build``."""
    from commentmod.training.dataset_build import load_split

    dataset_dir = Path(dataset_dir)
    if not dataset_dir.is_dir():
        raise TrainError(
            f"dataset directory {dataset_dir} does not exist; build it with "
            "`commentmod data build --out DIR` or set data.sources in the config"
        )
    return load_split(dataset_dir, split)


def read_build_info(dataset_dir: Path) -> dict[str, Any]:
    from commentmod.training.dataset_build import load_build_info

    return load_build_info(dataset_dir)


def build_cached(catalog_path: Path, sources: Sequence[str], cache_dir: Path) -> Path:
    """Build the DatasetDict for ``sources`` of a catalog into ``cache_dir`` (reused when already there).

    The cache key is the catalog file's content, the source list, the pipeline's code
    (``dataset_build``, ``catalog``, ``converters``) and the starter corpus shipped in the package;
    the dataset folders are not hashed: delete ``cache_dir`` to force a rebuild after changing them.
    """
    from commentmod.training.catalog import load_catalog, resolve_data_root, select_sources
    from commentmod.training.dataset_build import BUILD_INFO_NAME, build_dataset, save_build

    catalog_path = Path(catalog_path)
    catalog = load_catalog(catalog_path)
    digest = hashlib.sha256(catalog_path.read_bytes())
    digest.update(json.dumps(sorted(sources)).encode())
    here = Path(__file__).resolve().parent
    inputs = [here / "dataset_build.py", here / "catalog.py", *sorted((here / "converters").glob("*.py"))]
    inputs += sorted((here / "starter").glob("*.jsonl"))
    for code in inputs:
        if code.is_file():  # a change to the pipeline's code or the starter corpus invalidates the cache
            digest.update(code.read_bytes())
    out = Path(cache_dir) / f"data-{digest.hexdigest()[:12]}"
    if (out / BUILD_INFO_NAME).is_file():
        log.info("using cached data build %s", out)
        return out
    selection = select_sources(catalog, list(sources))
    data_root = resolve_data_root(None, catalog.data_root)
    log.info("building data for %s into %s", ", ".join(sources), out)
    result = build_dataset(catalog, selection, data_root)
    return save_build(result, out)


def resolve_dataset_dir(data: DataConfig) -> Path:
    """The DatasetDict directory: given, or built on the fly from catalog + sources into the cache."""
    if data.dataset_dir:
        return Path(data.dataset_dir)
    return build_cached(Path(data.catalog or "configs/data.yaml"), data.sources, Path(data.cache_dir))


def _sample(indices: list[int], n: int, rng: np.random.Generator) -> list[int]:
    if n >= len(indices):
        return indices
    keep = rng.choice(len(indices), size=n, replace=False)
    return [indices[i] for i in sorted(keep.tolist())]


def cap_train_rows(records: Sequence[CommentRecord], data: DataConfig, seed: int) -> list[CommentRecord]:
    """Drop rows with no known label, then apply per-source caps and ``max_train_rows`` (seeded sample)."""
    rng = np.random.default_rng([seed, 1])
    by_source: dict[str, list[int]] = {}
    for i, rec in enumerate(records):
        if any(v is not None for v in rec.labels.values()):
            by_source.setdefault(rec.source, []).append(i)
    kept: list[int] = []
    for source in sorted(by_source):
        cap = data.source_caps.get(source, data.max_rows_per_source)
        idx = by_source[source]
        kept.extend(idx if cap is None else _sample(idx, cap, rng))
    kept.sort()
    if data.max_train_rows is not None:
        kept = _sample(kept, data.max_train_rows, rng)
    return [records[i] for i in kept]


def cap_rows(records: Sequence[CommentRecord], n: int | None, seed: int) -> list[CommentRecord]:
    rows = [i for i, r in enumerate(records) if any(v is not None for v in r.labels.values())]
    if n is not None:
        rows = _sample(rows, n, np.random.default_rng([seed, 2]))
    return [records[i] for i in rows]


@dataclass
class Encoded:
    """Tokenised rows: windows per row, labels (0 where unknown), mask (1 = known), row weights."""

    windows: list[list[list[int]]]
    labels: np.ndarray
    mask: np.ndarray
    weights: np.ndarray

    def __len__(self) -> int:
        return len(self.windows)

    @property
    def lengths(self) -> np.ndarray:
        return np.asarray([len(w[0]) for w in self.windows], dtype=np.int64)


def label_arrays(records: Sequence[CommentRecord]) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, mask)``, both ``[N, len(LABELS)]`` float32; unknown labels have mask 0 and label 0."""
    y = np.zeros((len(records), len(LABELS)), dtype=np.float32)
    m = np.zeros_like(y)
    for i, rec in enumerate(records):
        for j, name in enumerate(LABELS):
            value = rec.labels.get(name)
            if value is not None:
                y[i, j] = float(value)
                m[i, j] = 1.0
    return y, m


def encode_records(
    tokenizer: Tokenizer,
    records: Sequence[CommentRecord],
    rule: ContextRule,
    source_weights: dict[str, float] | None = None,
) -> Encoded:
    items = [(r.text, r.article_title, r.article_text) for r in records]
    windows = encode_comments(tokenizer, items, rule) if items else []
    y, m = label_arrays(records)
    sw = source_weights or {}
    w = np.asarray([float(sw.get(r.source, 1.0)) for r in records], dtype=np.float32)
    return Encoded(windows, y, m, w)


# --- batching and loss ------------------------------------------------------------------------------


def length_grouped_batches(
    lengths: Sequence[int] | np.ndarray, batch_size: int, seed: int, epoch: int, group_factor: int = 50
) -> list[list[int]]:
    """Every index exactly once, in batches of similar length; deterministic in ``(seed, epoch)``.

    Shuffle, cut into chunks of ``batch_size * group_factor``, sort each chunk by
    length, cut into batches, then shuffle the batch order.
    """
    lengths = np.asarray(lengths)
    rng = np.random.default_rng([seed, epoch, 7])
    perm = rng.permutation(len(lengths))
    chunk = batch_size * max(1, group_factor)
    batches: list[list[int]] = []
    for start in range(0, len(perm), chunk):
        part = perm[start : start + chunk]
        part = part[np.argsort(-lengths[part], kind="stable")]
        batches.extend(part[i : i + batch_size].tolist() for i in range(0, len(part), batch_size))
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def masked_bce(
    logits: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor,
    pos_weight: torch.Tensor | None = None,
    label_weights: torch.Tensor | None = None,
    row_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean BCE over the known labels only; masked entries contribute nothing (zero gradient)."""
    mask = mask.to(logits.dtype)
    targets = torch.where(mask > 0, targets.to(logits.dtype), torch.zeros_like(logits))
    loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none", pos_weight=pos_weight)
    weights = mask
    if label_weights is not None:
        weights = weights * label_weights
    if row_weights is not None:
        weights = weights * row_weights.unsqueeze(-1)
    return (loss * weights).sum() / mask.sum().clamp(min=1.0)


def collate(
    data: Encoded, idx: Sequence[int], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Dynamic padding of the first window of each row: ids, attention mask, labels, label mask, weights."""
    ids, att = pad_batch([data.windows[i][0] for i in idx], pad_id)
    sel = np.asarray(idx)
    return (
        ids,
        att,
        torch.from_numpy(data.labels[sel]),
        torch.from_numpy(data.mask[sel]),
        torch.from_numpy(data.weights[sel]),
    )


# --- evaluation -------------------------------------------------------------------------------------


def validation_metrics(logits: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
    """Masked BCE and per-label PR-AUC (average precision); ``mean_pr_auc`` over labels where defined."""
    from sklearn.metrics import average_precision_score

    lt = torch.from_numpy(logits)
    loss = float(masked_bce(lt, torch.from_numpy(labels), torch.from_numpy(mask)))
    pr_auc: dict[str, float | None] = {}
    for j, name in enumerate(LABELS[: logits.shape[1]]):
        known = mask[:, j] > 0
        y = labels[known, j]
        if y.size == 0 or y.min() == y.max():
            pr_auc[name] = None
            continue
        pr_auc[name] = float(average_precision_score(y, logits[known, j]))
    defined = [v for v in pr_auc.values() if v is not None]
    return {
        "loss": loss,
        "pr_auc": pr_auc,
        "mean_pr_auc": float(np.mean(defined)) if defined else None,
    }


def selection_score(metrics: dict[str, Any]) -> float:
    """Higher is better: mean PR-AUC when defined, else minus the loss."""
    if metrics.get("mean_pr_auc") is not None:
        return float(metrics["mean_pr_auc"])
    return -float(metrics["loss"])


# --- model, optimisers, schedule --------------------------------------------------------------------


def word_embeddings(model: CommentClassifier) -> nn.Embedding:
    emb = model.encoder.get_input_embeddings()
    if not isinstance(emb, nn.Embedding):
        raise TrainError(f"the encoder's input embeddings are a {type(emb).__name__}, expected nn.Embedding")
    return emb


def embeddings_ever_trained(cfg: TrainConfig) -> bool:
    return not cfg.freeze_word_embeddings or cfg.unfreeze_embeddings_last_epoch


def build_optimizers(
    model: CommentClassifier, cfg: TrainConfig
) -> tuple[torch.optim.AdamW, torch.optim.SparseAdam | None]:
    """AdamW for the dense parameters (head at ``head_lr``, no decay on biases/LayerNorm/embeddings);
    SparseAdam for the word-embedding matrix when it is trained with sparse gradients."""
    emb = word_embeddings(model)
    sparse = cfg.sparse_embeddings and embeddings_ever_trained(cfg)
    emb.sparse = sparse
    emb_lr = cfg.embedding_lr or cfg.learning_rate
    head_lr = cfg.head_lr or cfg.learning_rate
    decay: list[torch.Tensor] = []
    no_decay: list[torch.Tensor] = []
    head: list[torch.Tensor] = []
    dense_emb: list[torch.Tensor] = []
    for name, p in model.named_parameters():
        if p is emb.weight:
            if not sparse:
                dense_emb.append(p)
        elif name.startswith("head."):
            head.append(p)
        elif p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name or "embeddings" in name:
            no_decay.append(p)
        else:
            decay.append(p)
    groups: list[dict[str, Any]] = [
        {"params": decay, "weight_decay": cfg.weight_decay, "base_lr": cfg.learning_rate},
        {"params": no_decay, "weight_decay": 0.0, "base_lr": cfg.learning_rate},
        {"params": head, "weight_decay": cfg.weight_decay, "base_lr": head_lr},
    ]
    if dense_emb:
        groups.append({"params": dense_emb, "weight_decay": 0.0, "base_lr": emb_lr})
    for g in groups:
        g["lr"] = g["base_lr"]
    adamw = torch.optim.AdamW(groups, lr=cfg.learning_rate)
    sparse_opt = None
    if sparse:
        sparse_opt = torch.optim.SparseAdam([emb.weight], lr=emb_lr)
        sparse_opt.param_groups[0]["base_lr"] = emb_lr
    return adamw, sparse_opt


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warmup over ``warmup`` steps then linear decay; ``step`` is 0-based, never 0 at step 0."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def set_lr(optimizers: Sequence[torch.optim.Optimizer | None], factor: float) -> None:
    for opt in optimizers:
        if opt is None:
            continue
        for g in opt.param_groups:
            g["lr"] = g["base_lr"] * factor


@dataclass(frozen=True)
class Plan:
    """Step counts derived from the data size and the config."""

    n_train: int
    batches_per_epoch: int
    steps_per_epoch: int
    total_steps: int
    n_epochs: int
    warmup_steps: int
    unfreeze_step: int | None  # first optimizer step with trainable word embeddings (None: never)


def make_plan(cfg: TrainConfig, n_train: int, total_override: int | None = None) -> Plan:
    """Steps per epoch, total steps (``epochs``, capped by ``max_steps`` or a time-budget override),
    warmup, and when the word embeddings start training.

    ``unfreeze_embeddings_last_epoch`` unfreezes at the start of the last epoch, but never later than
    half-way, so a run cut short by ``max_steps``/the time budget still trains them for a while.
    """
    batches = math.ceil(n_train / cfg.batch_size)
    steps_per_epoch = math.ceil(batches / cfg.grad_accum)
    total = steps_per_epoch * cfg.epochs
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    if total_override is not None:
        total = min(total, total_override)
    n_epochs = math.ceil(total / steps_per_epoch) if steps_per_epoch else 0
    if not cfg.freeze_word_embeddings:
        unfreeze: int | None = 0
    elif cfg.unfreeze_embeddings_last_epoch:
        unfreeze = min((n_epochs - 1) * steps_per_epoch, total // 2) if n_epochs > 1 else 0
    else:
        unfreeze = None
    return Plan(
        n_train=n_train,
        batches_per_epoch=batches,
        steps_per_epoch=steps_per_epoch,
        total_steps=total,
        n_epochs=n_epochs,
        warmup_steps=round(cfg.warmup_ratio * total),
        unfreeze_step=unfreeze,
    )


def fit_to_budget(
    plan: Plan, step: int, elapsed_s: float, per_step_s: float, budget_s: float, reserve: float = 0.1
) -> int | None:
    """Total steps that fit a wall-clock budget at ``per_step_s`` (None: the plan fits).

    ``reserve`` is the share of the budget kept for evaluations and checkpoints.
    """
    if step <= 0 or per_step_s <= 0:
        return None
    fit = step + int((budget_s * (1.0 - reserve) - elapsed_s) / per_step_s)
    return max(step + 1, fit) if fit < plan.total_steps else None


def progress_line(step: int, total: int, loss: float, wall_s: float, rows_per_s: float) -> str:
    """One progress log line: step, loss, wall s/step (evaluations included), rows/s and ETA."""
    sps = wall_s / max(1, step)
    eta_min = sps * max(0, total - step) / 60
    return (
        f"step {step}/{total} loss {loss:.4f} ({sps:.2f} s/step, {rows_per_s:.1f} rows/s, "
        f"ETA {eta_min:.1f} min)"
    )


def pick_device(cfg: TrainConfig) -> torch.device:
    if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise TrainError("device is 'cuda' but torch sees no CUDA device; set device: auto or cpu")
        return torch.device("cuda")
    return torch.device("cpu")


# --- checkpoints (safetensors + JSON, no pickle) ----------------------------------------------------


@dataclass
class TrainState:
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


def _model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}


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
    save_file(_model_state(model), str(tmp / "model.safetensors"))
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
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    payload = {"train_state": asdict(state), "optimizers": metas, "config": config}
    (tmp / "state.json").write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    final = state_dir / CHECKPOINT_DIR
    old = state_dir / (CHECKPOINT_DIR + ".old")
    if final.exists():
        if old.exists():
            shutil.rmtree(old)
        final.rename(old)
    tmp.rename(final)
    if old.exists():
        shutil.rmtree(old)
    return final


def load_checkpoint(
    state_dir: Path,
    model: nn.Module,
    adamw: torch.optim.Optimizer,
    sparse_opt: torch.optim.Optimizer | None,
    config: dict[str, Any],
) -> TrainState:
    ckpt = state_dir / CHECKPOINT_DIR
    payload = json.loads((ckpt / "state.json").read_text(encoding="utf-8"))
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


# --- the loop ---------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    out_dir: Path
    state: TrainState
    plan: Plan
    finished: bool
    info: RunInfo | None = None


def _label_tensor(values: dict[str, float], default: float, device: torch.device) -> torch.Tensor | None:
    if not values:
        return None
    return torch.tensor([float(values.get(k, default)) for k in LABELS], dtype=torch.float32, device=device)


def _append_log(out_dir: Path, entry: dict[str, Any]) -> None:
    with (out_dir / LOG_NAME).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")


def run_loop(
    model: CommentClassifier,
    cfg: TrainConfig,
    train_data: Encoded,
    val_data: Encoded,
    out_dir: Path,
    device: torch.device,
    resume: bool = False,
    on_step: StepCallback | None = None,
    stop_at_step: int | None = None,
    precision: str = "fp32",
) -> tuple[TrainState, Plan, bool]:
    """Train in place; returns ``(state, plan, finished)``. ``stop_at_step`` simulates an interruption
    right after the checkpoint of that step (for tests). ``precision`` is the resolved one (fp32 or
    bf16, see :func:`commentmod.training.hardware.resolve_precision`): forward passes and the loss's
    inputs run under bf16 autocast with it, the loss itself and the weights stay fp32."""
    plan = make_plan(cfg, len(train_data))
    config_dict = cfg.to_dict()
    state_dir = out_dir / STATE_DIR
    adamw, sparse_opt = build_optimizers(model, cfg)
    emb = word_embeddings(model)
    state = TrainState()
    if resume and (state_dir / CHECKPOINT_DIR / "state.json").is_file():
        state = load_checkpoint(state_dir, model, adamw, sparse_opt, config_dict)
        log.info("resumed at step %d (epoch %d, batch %d)", state.step, state.epoch, state.batch_pos)
    elif resume:
        log.warning("no checkpoint in %s; starting from scratch", state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    pos_weight = _label_tensor(cfg.pos_weight, 1.0, device)
    label_weights = _label_tensor(cfg.label_weights, 1.0, device)
    pad_id = SpecialIds().pad
    log.info(
        "%d train rows, %d validation rows, %d steps (%d per epoch, %d epochs), warmup %d, device %s",
        plan.n_train,
        len(val_data),
        plan.total_steps,
        plan.steps_per_epoch,
        plan.n_epochs,
        plan.warmup_steps,
        device,
    )

    def evaluate_now() -> bool:
        """Evaluate, keep the best weights; True when early stopping says stop."""
        if len(val_data) == 0:
            return False
        with autocast(precision, device):
            logits = window_logits(model, val_data.windows, cfg.eval_batch_size, device, pad_id)
        metrics = validation_metrics(logits, val_data.labels, val_data.mask)
        score = selection_score(metrics)
        state.last_eval_step = state.step
        improved = state.best_score is None or score > state.best_score
        if improved:
            state.best_score, state.best_step, state.bad_evals = score, state.step, 0
            save_file(_model_state(model), str(state_dir / BEST_NAME))
        else:
            state.bad_evals += 1
        entry = {
            "step": state.step,
            "epoch": state.epoch,
            **metrics,
            "best": improved,
            "precision": precision,
        }
        state.history.append(entry)
        _append_log(out_dir, entry)
        log.info(
            "step %d: val loss %.4f, PR-AUC %s%s",
            state.step,
            metrics["loss"],
            {k: (None if v is None else round(v, 4)) for k, v in metrics["pr_auc"].items()},
            " (best)" if improved else "",
        )
        patience = cfg.early_stopping_patience
        return patience is not None and state.bad_evals >= patience

    model.to(device)
    model.train()
    if state.planned_total is not None:
        plan = make_plan(cfg, len(train_data), state.planned_total)
    stop = state.stopped_early or state.out_of_time or state.step >= plan.total_steps
    t_last = t_wall = t_log = time.perf_counter()
    c_last = time.process_time()
    session_rows, session_train_s = 0, 0.0  # rows/s of this process (a resumed run starts afresh)
    while not stop and state.epoch < plan.n_epochs:
        epoch = state.epoch
        batches = length_grouped_batches(
            train_data.lengths, cfg.batch_size, cfg.seed, epoch, cfg.length_group_factor
        )
        pos = state.batch_pos
        while pos < len(batches):
            group = batches[pos : pos + cfg.grad_accum]
            n_rows = sum(len(b) for b in group)
            emb.weight.requires_grad_(plan.unfreeze_step is not None and state.step >= plan.unfreeze_step)
            loss_sum = 0.0
            for idx in group:
                ids, att, y, m, w = collate(train_data, idx, pad_id)
                with autocast(precision, device):
                    logits = model(ids.to(device), att.to(device))
                # the loss in fp32 (the logits already are: the model pools and classifies in fp32)
                loss = masked_bce(
                    logits.float(), y.to(device), m.to(device), pos_weight, label_weights, w.to(device)
                )
                (loss * (len(idx) / n_rows)).backward()
                loss_sum += float(loss.detach()) * len(idx) / n_rows
            set_lr([adamw, sparse_opt], lr_factor(state.step, plan.total_steps, plan.warmup_steps))
            if cfg.max_grad_norm is not None:
                dense = [p for p in model.parameters() if p.grad is not None and not p.grad.is_sparse]
                torch.nn.utils.clip_grad_norm_(dense, cfg.max_grad_norm)
            adamw.step()
            if sparse_opt is not None and emb.weight.grad is not None:
                sparse_opt.step()
            adamw.zero_grad(set_to_none=True)
            if sparse_opt is not None:
                sparse_opt.zero_grad(set_to_none=True)
            pos += len(group)
            state.step += 1
            state.batch_pos = pos
            now = time.perf_counter()
            session_rows += n_rows
            session_train_s += now - t_last
            state.train_seconds += now - t_last
            state.cpu_seconds += time.process_time() - c_last
            state.wall_seconds += now - t_wall
            t_wall = now
            if on_step is not None:
                on_step(state.step, plan.total_steps, loss_sum)
            elif now - t_log >= PROGRESS_LOG_SECONDS or state.step >= plan.total_steps:
                t_log = now
                rows_per_s = session_rows / max(session_train_s, 1e-9)
                log.info(
                    progress_line(state.step, plan.total_steps, loss_sum, state.wall_seconds, rows_per_s)
                )
            if state.step == 1:
                state.first_step_seconds = state.wall_seconds  # allocator warm-up: not representative
            budget_s = 60 * (cfg.max_train_minutes or 0.0)
            if (
                budget_s
                and state.planned_total is None
                and state.step >= BUDGET_MIN_STEPS
                and state.step >= BUDGET_PROBE_STEPS
                and state.wall_seconds >= BUDGET_PROBE_SHARE * budget_s
            ):
                per_step = (state.wall_seconds - state.first_step_seconds) / (state.step - 1)
                fit = fit_to_budget(plan, state.step, state.wall_seconds, per_step, budget_s)
                state.planned_total = fit or plan.total_steps
                if fit is not None:
                    log.warning(
                        "at %.2f s/step only %d of %d planned steps fit max_train_minutes=%s; "
                        "shortening the schedule to %d steps",
                        per_step,
                        fit,
                        plan.total_steps,
                        cfg.max_train_minutes,
                        fit,
                    )
                    plan = make_plan(cfg, len(train_data), fit)
            end_of_epoch = pos >= len(batches)
            last_step = state.step >= plan.total_steps
            if cfg.max_train_minutes is not None and state.wall_seconds >= 60 * cfg.max_train_minutes:
                log.warning(
                    "max_train_minutes=%s reached at step %d of %d; stopping",
                    cfg.max_train_minutes,
                    state.step,
                    plan.total_steps,
                )
                state.out_of_time = last_step = True
            due = state.step % cfg.eval_every_steps == 0 if cfg.eval_every_steps else end_of_epoch
            if (due or last_step) and evaluate_now():
                state.stopped_early = True
                log.info("early stopping at step %d (best step %d)", state.step, state.best_step)
            if end_of_epoch:
                state.epoch, state.batch_pos = epoch + 1, 0
            if state.stopped_early or last_step:
                stop = True
            if cfg.checkpoint_every_steps and state.step % cfg.checkpoint_every_steps == 0 and not stop:
                save_checkpoint(state_dir, model, adamw, sparse_opt, state, config_dict)
            t_last, c_last = time.perf_counter(), time.process_time()
            if stop_at_step is not None and state.step >= stop_at_step and not stop:
                return state, plan, False
            if stop or end_of_epoch:
                break
    return state, plan, True


# --- end of run: calibration, thresholds, run directory ---------------------------------------------


def fit_thresholds(
    logits: np.ndarray, labels: np.ndarray, mask: np.ndarray, cfg: TrainConfig
) -> tuple[dict[str, float], dict[str, float], dict[str, Any]]:
    """Per label: temperature (kept only if it lowers validation Brier), then the threshold on the
    calibrated probabilities (max F1, or the lowest reaching ``target_precision``)."""
    thresholds: dict[str, float] = {}
    temperature: dict[str, float] = {}
    report: dict[str, Any] = {}
    for j, name in enumerate(LABELS):
        known = mask[:, j] > 0
        y, z = labels[known, j], logits[known, j]
        entry: dict[str, Any] = {"rows": int(known.sum()), "positives": int(y.sum()) if y.size else 0}
        if y.size == 0 or y.min() == y.max():
            log.warning("label %s: validation has no positives or no negatives; threshold 0.5, T=1", name)
            thresholds[name], temperature[name] = calibration.DEFAULT_THRESHOLD, 1.0
            report[name] = entry
            continue
        t = 1.0
        if cfg.calibrate:
            tc = calibration.choose_temperature(y, z)
            t = tc.temperature
            entry["calibration"] = asdict(tc)
        probs = calibration.sigmoid(z / t)
        if cfg.threshold_mode == "precision":
            choice = calibration.threshold_for_precision(y, probs, cfg.target_precision)
            if not choice.reached_target:
                log.warning(
                    "label %s: no threshold reaches precision %.2f on validation; using the max-F1 one",
                    name,
                    cfg.target_precision,
                )
        else:
            choice = calibration.threshold_max_f1(y, probs)
        thresholds[name], temperature[name] = choice.threshold, t
        entry["threshold"] = asdict(choice)
        report[name] = entry
    return thresholds, temperature, report


def data_sources(records: Sequence[CommentRecord], build_info: dict[str, Any]) -> list[dict[str, Any]]:
    """Name, licence, rows used (train) and commercial flag per source."""
    from commentmod.training.catalog import is_commercial_ok

    known = {str(v.get("name")): dict(v) for v in build_info.get("sources", []) if isinstance(v, dict)}
    counts: dict[str, int] = {}
    licences: dict[str, str] = {}
    for r in records:
        counts[r.source] = counts.get(r.source, 0) + 1
        licences.setdefault(r.source, r.licence)
    out = []
    for name in sorted(counts):
        licence = str(known.get(name, {}).get("licence", licences[name]))
        out.append(
            {
                "name": name,
                "licence": licence,
                "rows": counts[name],
                "commercial_ok": is_commercial_ok(licence),
            }
        )
    return out


def source_weights(build_info: dict[str, Any]) -> dict[str, float]:
    """Per-source loss weight from the build (``weight`` in the catalog; 1.0 when absent)."""
    return {
        str(v["name"]): float(v.get("weight") or 1.0)
        for v in build_info.get("sources", [])
        if isinstance(v, dict) and "name" in v
    }


def _check_out_dir(out_dir: Path, resume: bool) -> None:
    if not out_dir.exists():
        return
    if (out_dir / WEIGHTS_NAME).exists() and not (out_dir / STATE_DIR).exists():
        raise TrainError(f"{out_dir} already holds a finished run; choose another --out or delete it")
    if not resume and any(out_dir.iterdir()):
        raise TrainError(
            f"{out_dir} is not empty; pass --resume to continue an interrupted run there, "
            "or choose another --out"
        )


def train(
    cfg: TrainConfig,
    out_dir: Path,
    resume: bool = False,
    on_step: StepCallback | None = None,
    stop_at_step: int | None = None,
) -> TrainResult:
    """Run a whole fine-tuning job into ``out_dir`` (see the module docstring)."""
    out_dir = Path(out_dir)
    _check_out_dir(out_dir, resume)
    threads = auto_threads(cfg.num_threads)
    torch.set_num_threads(threads.threads)
    log.info("%d torch thread(s) on %d core(s) (%s)", threads.threads, threads.cores, threads.reason)
    base = Path(cfg.base_model)
    tokenizer_json = base / "tokenizer.json"
    if not tokenizer_json.is_file():
        raise TrainError(
            f"base model {base} has no tokenizer.json; build it with `commentmod base-model --out {base}` "
            "or pass --base DIR"
        )
    dataset_dir = resolve_dataset_dir(cfg.data)
    build_info = read_build_info(dataset_dir)
    train_records = cap_train_rows(read_split(dataset_dir, "train"), cfg.data, cfg.seed)
    val_records = cap_rows(read_split(dataset_dir, "validation"), cfg.data.max_validation_rows, cfg.seed)
    if not train_records:
        raise TrainError(f"{dataset_dir} has no labelled train rows (after caps); check the data config")
    if not val_records:
        log.warning("no validation rows: no early stopping; thresholds stay 0.5")
    rule = cfg.rule
    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    weights = source_weights(build_info)
    t0 = time.perf_counter()
    train_data = encode_records(tokenizer, train_records, rule, weights)
    val_data = encode_records(tokenizer, val_records, rule)
    log.info("tokenised %d + %d rows in %.1fs", len(train_data), len(val_data), time.perf_counter() - t0)

    torch.manual_seed(cfg.seed)
    model = CommentClassifier.from_base(base, dropout=cfg.dropout)
    device = pick_device(cfg)
    precision = resolve_precision(cfg.precision, device)
    log.info("precision %s (requested %s: %s)", precision.used, precision.requested, precision.reason)
    out_dir.mkdir(parents=True, exist_ok=True)
    state, plan, finished = run_loop(
        model, cfg, train_data, val_data, out_dir, device, resume, on_step, stop_at_step, precision.used
    )
    if not finished:
        return TrainResult(out_dir, state, plan, finished=False)

    best = out_dir / STATE_DIR / BEST_NAME
    if best.is_file():
        model.load_state_dict(load_file(str(best)))
    model.to(device)
    thresholds = {k: calibration.DEFAULT_THRESHOLD for k in LABELS}
    temperature = {k: 1.0 for k in LABELS}
    report: dict[str, Any] = {}
    if len(val_data):  # in fp32, the exported model's precision (module docstring)
        logits = window_logits(model, val_data.windows, cfg.eval_batch_size, device)
        thresholds, temperature, report = fit_thresholds(logits, val_data.labels, val_data.mask, cfg)
    word_embeddings(model).sparse = False
    info = RunInfo(
        context_rule=rule.to_dict(),
        thresholds=thresholds,
        temperature=temperature,
        data_sources=data_sources(train_records, build_info),
        # "auto" resolved to what the run used (the request is in extra.precision_requested)
        training_config={**cfg.to_dict(), "precision": precision.used},
        base_model=str(cfg.base_model),
        extra={
            "dataset_dir": str(dataset_dir),
            "steps": state.step,
            "best_step": state.best_step,
            "best_score": state.best_score,
            "stopped_early": state.stopped_early,
            "out_of_time": state.out_of_time,
            "planned_steps": plan.total_steps,
            "unfreeze_step": plan.unfreeze_step,
            "seconds_per_step": state.train_seconds / max(1, state.step),
            "cpu_seconds_per_step": state.cpu_seconds / max(1, state.step),
            "threads": torch.get_num_threads(),
            "thread_choice": threads.to_dict(),
            "precision": precision.used,
            "precision_requested": precision.requested,
            "precision_reason": precision.reason,
            # periodic validation (model selection) vs the pass that fits thresholds and temperature
            "eval_precision": {"periodic": precision.used, "calibration": "fp32"},
            "wall_seconds": state.wall_seconds,
            "train_rows": len(train_data),
            "validation_rows": len(val_data),
            "validation_calibration": report,
            "history": state.history,
            "device": str(device),
        },
    )
    model.cpu().save(out_dir, tokenizer_json, info)
    shutil.rmtree(out_dir / STATE_DIR, ignore_errors=True)
    log.info("saved %s (best step %d, thresholds %s)", out_dir, state.best_step, thresholds)
    return TrainResult(out_dir, state, plan, finished=True, info=info)
