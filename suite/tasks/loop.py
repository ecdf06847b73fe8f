"""The training loop the three tasks share: seeding, AMP, DDP, checkpoint/resume,
divergence, a cooperative stop, and progress.

A task supplies an adapter (see ``TaskAdapter``): how to iterate an epoch's batches from a
given batch index, the training loss of a batch, and the evaluation metrics. The loop owns
everything else, so resume, divergence and preemption behave the same for every task.

Determinism: every random choice comes from a generator seeded with ``derived_seed``
(sha256 of the cell seed and a purpose, never Python's salted ``hash()``); the data order of
epoch ``e`` is a permutation drawn from its own generator, so a resumed run skips to
(epoch, batch) and sees exactly the batches the uninterrupted run saw.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import numpy as np
import torch
from torch import nn

from suite.errors import SuiteError
from suite.tasks.checkpoint import load_checkpoint, save_checkpoint, set_rng_state
from suite.tasks.recipes import Recipe

log = logging.getLogger("suite.tasks")

# ------------------------------------------------------------------ cooperative stop
_STOP = {"requested": False}
# Called as hook(step) after every optimizer step; tests and executors may append to it.
STEP_HOOKS: list[Callable[[int], None]] = []


class StopRequested(Exception):
    """Raised by the loop after it saved a checkpoint because a stop was requested."""

    def __init__(self, step: int, checkpoint: str):
        super().__init__(f"stopped at step {step} after saving {checkpoint}")
        self.step = step
        self.checkpoint = checkpoint


def request_checkpoint_and_stop() -> None:
    """Ask the running loop to save a checkpoint at the next step boundary and raise
    ``StopRequested``. Only sets a flag, so it is safe in a signal handler (SIGTERM,
    SIGUSR1/2 of a preempting scheduler) or from another thread."""
    _STOP["requested"] = True


def stop_requested() -> bool:
    return _STOP["requested"]


def clear_stop_request() -> None:
    _STOP["requested"] = False


# ------------------------------------------------------------------ seeding
def derived_seed(*parts: Any) -> int:
    """A 63-bit seed from the given parts, stable across processes and machines."""
    text = "/".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def seed_everything(seed: int) -> None:
    random.seed(derived_seed(seed, "python"))
    np.random.seed(derived_seed(seed, "numpy") % 2**32)
    torch.manual_seed(derived_seed(seed, "torch"))


# ------------------------------------------------------------------ distributed
@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device) -> DistEnv:
    """Join the process group described by torchrun's environment variables.

    RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT come from torchrun or from
    submitit (``submitit.helpers.TorchDistributedEnvironment().export()``). gloo on CPU,
    nccl on CUDA. With WORLD_SIZE unset or 1 nothing happens.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistEnv()
    env = DistEnv(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0")), world)
    import torch.distributed as dist

    if not dist.is_initialized():
        # SUITE_DIST_BACKEND overrides the choice: gloo lets several ranks share one GPU
        # (NCCL refuses that), as the GPU check's DDP cell needs on a one-GPU machine.
        backend = os.environ.get("SUITE_DIST_BACKEND") or ("nccl" if device.type == "cuda" else "gloo")
        dist.init_process_group(backend=backend, rank=env.rank, world_size=world)
    return env


def all_reduce_sum(values: list[float], dist_env: DistEnv, device: torch.device) -> list[float]:
    if not dist_env.active:
        return values
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def resolve_device(device: str | torch.device | None, dist_env_local_rank: int = 0) -> torch.device:
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", dist_env_local_rank)
    return device


# ------------------------------------------------------------------ data order
def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, dist_env: DistEnv) -> list[list[int]]:
    """This process's share of each global batch of epoch ``epoch`` (last partial batch dropped).

    Like DistributedSampler, every process sees a disjoint slice of the same seeded
    permutation; unlike it, a resumed run can start at any batch index.
    """
    if batch_size % dist_env.world_size:
        raise SuiteError(f"batch size {batch_size} is not accepted with {dist_env.world_size} processes; "
                         "expected a multiple of the number of processes.")
    if n < batch_size:
        raise SuiteError(f"batch size {batch_size} is not accepted for a training set of {n} samples; "
                         "expected at most the number of samples.")
    generator = torch.Generator().manual_seed(derived_seed(seed, "order", epoch))
    order = torch.randperm(n, generator=generator).tolist()
    per_rank = batch_size // dist_env.world_size
    start = dist_env.rank * per_rank
    return [order[b * batch_size + start: b * batch_size + start + per_rank] for b in range(n // batch_size)]


def iterate_dataset(dataset, batches: list[list[int]], *, collate_fn=None, num_workers: int = 0,
                    seed: int | None = None, epoch: int = 0, pin_memory: bool = False) -> Iterator[Any]:
    """Batches of ``dataset`` in the given index order; in-memory tensors are sliced directly.

    seed: training data (random augmentation): each sample is loaded under RNGs seeded from
    (seed, epoch, index), so any worker count and any resume point give the same batches.
    None: evaluation (deterministic transforms).
    """
    from torch.utils.data import DataLoader, TensorDataset

    if isinstance(dataset, TensorDataset) and collate_fn is None:
        for idx in batches:
            index = torch.as_tensor(idx)
            yield tuple(t[index] for t in dataset.tensors)
        return
    if not batches:
        return
    if seed is not None:  # training: each sample's augmentation from its own seed (see sample_rng)
        from suite.tasks.sample_rng import SeededSamples

        dataset = SeededSamples(dataset, seed, epoch)
    # Own generator: DataLoader otherwise draws its base seed from the global RNG, which
    # would make a resumed run's random stream differ from the uninterrupted one.
    loader = DataLoader(dataset, batch_sampler=batches, collate_fn=collate_fn, num_workers=num_workers,
                        generator=torch.Generator().manual_seed(derived_seed(seed or 0, "loader", epoch)),
                        pin_memory=pin_memory)
    yield from loader


# ------------------------------------------------------------------ the adapter protocol
class TaskAdapter(Protocol):
    metric_names: tuple[str, ...]
    steps_per_epoch: int

    def iterate(self, epoch: int, start: int) -> Iterator[Any]:
        """This process's batches of ``epoch`` from batch index ``start`` on."""

    def split(self, batch: Any, parts: int) -> list[Any]:
        """Micro-batches for gradient accumulation."""

    def loss(self, model: nn.Module, batch: Any) -> torch.Tensor:
        """The training loss of a batch (model in train mode)."""

    def num_samples(self, batch: Any) -> int: ...

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Metrics over the validation split (all processes take part)."""


# ------------------------------------------------------------------ optimizer / schedule
def is_activation_module(module: nn.Module) -> bool:
    from suite.activations.base import Activation

    return isinstance(module, Activation)


def activation_parameter_ids(model: nn.Module) -> set[int]:
    return {id(p) for m in model.modules() if is_activation_module(m) for p in m.parameters(recurse=False)}


def build_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if recipe.no_decay_act_and_1d and recipe.weight_decay > 0:
        act_ids = activation_parameter_ids(model)
        no_decay = [p for p in params if p.ndim <= 1 or id(p) in act_ids]
        decay = [p for p in params if not (p.ndim <= 1 or id(p) in act_ids)]
        groups = [{"params": decay, "weight_decay": recipe.weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
    else:
        groups = [{"params": params, "weight_decay": recipe.weight_decay}]
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.nesterov)
    if recipe.optimizer == "rmsprop":
        from timm.optim import RMSpropTF  # TensorFlow's RMSProp, as the Swish paper trained

        # decay 0.9 and epsilon 1.0: TF-slim's defaults for Inception-style training
        return RMSpropTF(groups, lr=recipe.lr, alpha=0.9, eps=1.0, momentum=recipe.momentum)
    return torch.optim.AdamW(groups, lr=recipe.lr, betas=recipe.betas)


def build_scheduler(optimizer, recipe: Recipe, total_steps: int, warmup: int):
    """A timm scheduler stepped per update (``step_update(step)``); None for a constant lr."""
    from timm.scheduler import CosineLRScheduler, MultiStepLRScheduler, PolyLRScheduler

    common = dict(warmup_t=warmup, warmup_lr_init=recipe.warmup_lr_init, t_in_epochs=False)
    if recipe.schedule == "cosine":
        return CosineLRScheduler(optimizer, t_initial=total_steps, lr_min=recipe.min_lr, **common)
    if recipe.schedule == "step":
        milestones = [max(1, int(round(f * total_steps))) for f in recipe.milestones]
        return MultiStepLRScheduler(optimizer, decay_t=milestones, decay_rate=recipe.gamma, **common)
    if recipe.schedule == "linear":  # power 1: a straight line from lr to min_lr (ACON's recipes)
        return PolyLRScheduler(optimizer, t_initial=total_steps, power=1.0, lr_min=recipe.min_lr, **common)
    return None


def amp_dtype(recipe: Recipe, device: torch.device) -> torch.dtype | None:
    if recipe.amp == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[recipe.amp]


# ------------------------------------------------------------------ statistics phase (PWLU)
def _phases():
    try:
        from suite.activations import phases
    except ImportError:  # activations without a statistics phase
        return None
    return phases


# ------------------------------------------------------------------ progress
class Progress:
    """A rich progress bar (progress=True) and log lines every ``log_every`` steps."""

    def __init__(self, enabled: bool, total: int, start: int, label: str):
        self.bar = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeRemainingColumn

            self.bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                    TimeRemainingColumn(), TextColumn("{task.fields[info]}"), transient=False,
                                    console=Console(stderr=True))
            self.bar.start()
            self.task = self.bar.add_task(label, total=total, completed=start, info="")

    def update(self, step: int, info: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=step, info=info)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


# ------------------------------------------------------------------ the loop
@dataclass
class TrainResult:
    status: str
    metrics: dict[str, float | None]
    history: list[dict]
    steps: int
    resumed_from_step: int | None
    diverged_at_step: int | None
    samples_per_s: float
    eval_model: nn.Module
    statistics_phase: dict


def train(adapter: TaskAdapter, model: nn.Module, recipe: Recipe, *, cell_id: str, seed: int, workdir: Path,
          device: torch.device, dist_env: DistEnv, progress: bool = True, label: str = "") -> TrainResult:
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    total = recipe.total_steps(adapter.steps_per_epoch)
    optimizer = build_optimizer(model, recipe)
    scheduler = build_scheduler(optimizer, recipe, total, recipe.warmup(adapter.steps_per_epoch))
    dtype = amp_dtype(recipe, device)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    ema = None
    if recipe.ema:
        from timm.utils import ModelEmaV3

        ema = ModelEmaV3(model, decay=recipe.ema_decay)

    # Phase I's length is the activations' own (PWLU: 5 % of training, as its paper).
    phases = _phases()
    stats_steps = phases.statistics_steps(model, total, adapter.steps_per_epoch) if phases is not None else 0
    phases = phases if stats_steps > 0 else None
    state = load_checkpoint(workdir, cell_id)
    step = state["step"] if state else 0
    stats_modules = 0
    if phases is not None and step < stats_steps:
        stats_modules = phases.begin_statistics(model)  # before loading: the checkpoint holds the statistics
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        set_rng_state(state["rng"])
        epoch, batch_in_epoch = state["epoch"], state["batch_in_epoch"]
        history, acc = state["history"], state["loss_acc"]
        stats_modules = state.get("statistics_modules", stats_modules)
    else:
        epoch, batch_in_epoch, history, acc = 0, 0, [], {"sum": 0.0, "count": 0}
    resumed_from = step if state else None

    train_model = model
    if dist_env.active:
        from torch.nn.parallel import DistributedDataParallel

        train_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                              find_unused_parameters=True)

    def checkpoint_state() -> dict:
        return {"cell_id": cell_id, "step": step, "epoch": epoch, "batch_in_epoch": batch_in_epoch,
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                "ema": ema.state_dict() if ema is not None else None, "history": history, "loss_acc": acc,
                "statistics_modules": stats_modules}

    def save() -> str:
        path = str(workdir / "checkpoint.pt")
        if dist_env.is_main:
            save_checkpoint(workdir, checkpoint_state())
        if dist_env.active:
            import torch.distributed as dist

            dist.barrier()
        return path

    eval_model = lambda: ema.module if ema is not None else model  # noqa: E731
    bar = Progress(progress and dist_env.is_main, total, step, label)
    samples, train_time, diverged_at = 0, 0.0, None
    micro = recipe.grad_accum
    autocast = (lambda: torch.autocast(device.type, dtype=dtype)) if dtype else contextlib.nullcontext
    try:
        while step < total and diverged_at is None:
            for batch in adapter.iterate(epoch, batch_in_epoch):
                t0 = time.perf_counter()
                if scheduler is not None:  # the lr of update number step + 1 (no zero-lr first step)
                    scheduler.step_update(step + 1)
                model.train()
                optimizer.zero_grad(set_to_none=True)
                parts = adapter.split(batch, micro) if micro > 1 else [batch]
                loss_value = 0.0
                for i, part in enumerate(parts):
                    sync = contextlib.nullcontext() if (not dist_env.active or i == len(parts) - 1) else train_model.no_sync()
                    with sync:
                        with autocast():
                            loss = adapter.loss(train_model, part) / len(parts)
                        scaler.scale(loss).backward()
                    loss_value += float(loss.detach())
                # One small all-reduce per step keeps every process's decisions identical: the
                # mean loss (a NaN anywhere makes all of them stop) and any stop request.
                loss_sum, stop_votes = all_reduce_sum([loss_value, float(stop_requested())], dist_env, device)
                loss_value, stop_now = loss_sum / dist_env.world_size, stop_votes > 0
                if not math.isfinite(loss_value):
                    diverged_at = step + 1
                    break
                if recipe.grad_clip > 0:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                if ema is not None:
                    ema.update(model, step=step)
                step += 1
                batch_in_epoch += 1
                n = adapter.num_samples(batch) * dist_env.world_size
                samples += n
                train_time += time.perf_counter() - t0
                acc["sum"] += loss_value
                acc["count"] += 1

                if phases is not None and step == stats_steps:
                    phases.realign(model)
                    if ema is not None:
                        phases.copy_realigned(model, ema.module)
                if step % recipe.log_every == 0 or step == total:
                    entry = {"step": step, "epoch": epoch, "lr": optimizer.param_groups[0]["lr"],
                             "train_loss": acc["sum"] / max(1, acc["count"])}
                    acc = {"sum": 0.0, "count": 0}
                    history.append(entry)
                    log.info("%s step %d/%d loss %.4f lr %.3g %.1f samples/s", label, step, total,
                             entry["train_loss"], entry["lr"], samples / max(train_time, 1e-9))
                bar.update(step, f"loss {loss_value:.4f}  {samples / max(train_time, 1e-9):.0f} samples/s")
                if recipe.eval_every and step % recipe.eval_every == 0 and step < total:
                    _record_eval(history, step, epoch, adapter.evaluate(eval_model()))
                for hook in STEP_HOOKS:
                    hook(step)
                saved = False
                if recipe.checkpoint_every and step % recipe.checkpoint_every == 0:
                    save()
                    saved = True
                if stop_now if dist_env.active else stop_requested():  # processes act on the agreed vote
                    path = save() if not saved else str(workdir / "checkpoint.pt")
                    clear_stop_request()
                    raise StopRequested(step, path)
                if step >= total:
                    break
            else:
                epoch += 1
                batch_in_epoch = 0
    finally:
        bar.close()

    if diverged_at is not None:
        log.warning("%s diverged at step %d (loss not finite)", label, diverged_at)
        return TrainResult("diverged", {m: None for m in adapter.metric_names}, history, diverged_at - 1,
                           resumed_from, diverged_at, samples / max(train_time, 1e-9), eval_model(),
                           {"modules": stats_modules, "steps": stats_steps})
    last = history[-1] if history else {}
    if last.get("step") == step and all(m in last for m in adapter.metric_names):
        metrics = {m: last[m] for m in adapter.metric_names}
    else:
        metrics = adapter.evaluate(eval_model())
        _record_eval(history, step, epoch, metrics)
    if recipe.checkpoint_every:
        save()
    return TrainResult("done", metrics, history, step, resumed_from, None, samples / max(train_time, 1e-9),
                       eval_model(), {"modules": stats_modules, "steps": stats_steps})


def _record_eval(history: list[dict], step: int, epoch: int, metrics: dict) -> None:
    if history and history[-1].get("step") == step:
        history[-1].update(metrics)
    else:
        history.append({"step": step, "epoch": epoch, **metrics})
