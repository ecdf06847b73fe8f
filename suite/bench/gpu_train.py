"""The GPU check's training section: what a learnable activation costs in a real step.

A training step (forward, backward, optimizer update) of the paper networks, ResNet-50,
ConvNeXt-T and GPT-2 124M, under bf16 autocast, CNNs in channels_last, on synthetic inputs
of the real shapes. Each learnable activation's step is timed in alternation with the
fixed activation's (ReLU for ResNet-50, GELU for the other two), so the ratio holds under
the same load; for the orthogonal-basis recipes, torchortho's units take the same step.
The measured time per sample then prices every shipped matrix in GPU-hours.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from suite.bench import measure

LEARNABLE = ("pwlu", "hermite:degree=3", "fourier:degree=5", "tropical:degree=5")
TORCHORTHO = ("hermite:degree=3", "fourier:degree=5", "tropical:degree=5")
TARGET_RATIO = 1.15  # a learnable activation's step over the fixed activation's
TORCHORTHO_SPEEDUP = 10.0  # ours at least this much faster than torchortho's step


@dataclass(frozen=True)
class StepModel:
    label: str  # the network the row stands for
    arch: str  # what is built (a stand-in in the CPU rehearsal)
    kind: str  # "cnn" or "lm"
    input_shape: tuple[int, ...]  # one example: (C, H, W) or (T,)
    batch: int
    fixed: str  # the activation the learnable ones are compared with
    torchortho: bool = False
    arch_kw: dict = field(default_factory=dict)


GPU_MODELS = (
    StepModel("resnet50", "resnet50", "cnn", (3, 224, 224), 128, "relu"),
    StepModel("convnext_tiny", "convnext_tiny", "cnn", (3, 224, 224), 128, "gelu", torchortho=True),
    StepModel("gpt2", "gpt2", "lm", (1024,), 8, "gelu", torchortho=True),
)
# Small networks of the same kinds: the CPU rehearsal tests the section's plumbing.
REHEARSAL_MODELS = (
    StepModel("resnet50", "resnet_tiny", "cnn", (1, 16, 16), 4, "relu"),
    StepModel("convnext_tiny", "cnn_small", "cnn", (1, 8, 8), 4, "gelu", torchortho=True),
    StepModel("gpt2", "gpt_tiny", "lm", (32,), 2, "gelu", torchortho=True),
)


def _model(spec: StepModel, act: str, device: torch.device, peer: str | None) -> nn.Module:
    from suite.architectures import ARCHITECTURES, build_stock, create
    from suite.architectures.surgery import DEFAULT_POLICY, replace_activations
    from suite.bench.subjects import parse_act

    torch.manual_seed(0)
    act_spec = parse_act(act)
    if peer is None:
        model = create(spec.arch, act=act_spec.name, act_params=act_spec.params or None, **spec.arch_kw)
    else:  # torchortho's unit at every site the surgery would fill
        from suite.bench import peers

        build_peer = peers.PEERS[act_spec.name][peer]
        model = build_stock(spec.arch, **spec.arch_kw)
        with ARCHITECTURES.get(spec.arch).info["sample"](model) as inputs:
            replace_activations(model, lambda site: build_peer(act_spec), DEFAULT_POLICY, inputs)
    model = model.to(device)
    if spec.kind == "cnn":
        model = model.to(memory_format=torch.channels_last)
    return model.train()


def step_fn(spec: StepModel, act: str, device: torch.device, peer: str | None = None):
    """One training step of ``spec`` with ``act`` on a fixed synthetic batch."""
    model = _model(spec, act, device, peer)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    if spec.kind == "cnn":
        x = torch.randn(spec.batch, *spec.input_shape, generator=gen).to(device, memory_format=torch.channels_last)
    else:
        vocab = model.config.vocab_size
        tokens = torch.randint(0, vocab, (spec.batch, spec.input_shape[0] + 1), generator=gen).to(device)
        x, target = tokens[:, :-1], tokens[:, 1:]
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if device.type == "cuda" \
        else contextlib.nullcontext

    def step():
        opt.zero_grad(set_to_none=True)
        with autocast():
            out = model(x)
            if spec.kind == "cnn":
                loss = out.float().logsumexp(-1).mean()  # cross-entropy's cost, no labels needed
            else:
                loss = nn.functional.cross_entropy(out.float().flatten(0, 1), target.flatten())
        loss.backward()
        opt.step()
        return loss

    return step


def _pair_ratio(a, b, device: torch.device, rounds: int) -> tuple[float, float, float]:
    timed = measure.time_interleaved({"a": a, "b": b}, device, quick=True, rounds=rounds, block_s=0, budget_s=30)
    return timed.timing("a").median_s, timed.timing("b").median_s, timed.ratio("a", "b").median_s


def run(models=GPU_MODELS, device=torch.device("cuda"), rounds: int = 5, progress=print) -> list[dict]:
    """One row per (network, activation or torchortho unit): its step time and the ratio
    to the fixed activation's step timed in the same rounds."""
    rows = []
    for spec in models:
        fixed = None
        try:
            fixed = step_fn(spec, spec.fixed, device)
        except Exception as exc:  # noqa: BLE001
            rows.append({"model": spec.label, "arch": spec.arch, "activation": spec.fixed,
                         "error": f"{type(exc).__name__}: {exc}"})
            continue
        variants = [(act, None) for act in LEARNABLE]
        variants += [(act, "torchortho") for act in TORCHORTHO] if spec.torchortho else []
        for act, peer in variants:
            progress(f"step {spec.label} {act}{' (torchortho)' if peer else ''}")
            row = {"model": spec.label, "arch": spec.arch, "batch": spec.batch, "input_shape": list(spec.input_shape),
                   "activation": act, "impl": peer or "suite", "fixed": spec.fixed}
            try:
                t, t_fixed, ratio = _pair_ratio(step_fn(spec, act, device, peer), fixed, device, rounds)
                row.update(step_s=t, fixed_step_s=t_fixed, ratio_to_fixed=ratio)
                if peer is None:
                    row["meets_target"] = ratio <= TARGET_RATIO
            except Exception as exc:  # noqa: BLE001 - torchortho may run out of memory; keep the rest
                row["error"] = f"{type(exc).__name__}: {exc}"
            rows.append(row)
            if device.type == "cuda":
                torch.cuda.empty_cache()
    _torchortho_speedups(rows)
    return rows


def _torchortho_speedups(rows: list[dict]) -> None:
    """Ours vs torchortho's step, from their ratios to the same fixed step."""
    ours = {(r["model"], r["activation"]): r for r in rows if r.get("impl") == "suite" and "step_s" in r}
    for row in rows:
        mine = ours.get((row["model"], row["activation"]))
        if row.get("impl") == "torchortho" and "step_s" in row and mine is not None:
            row["speedup_of_suite"] = row["ratio_to_fixed"] / mine["ratio_to_fixed"]
            row["meets_target"] = row["speedup_of_suite"] >= TORCHORTHO_SPEEDUP


# ------------------------------------------------------------------ GPU-hours
# Training-set sizes for epoch-based recipes (samples per epoch).
TRAIN_SAMPLES = {"imagenet": 1_281_167, "coco": 117_266, "cifar10": 50_000, "cifar100": 50_000}


def gpu_hours(rows: list[dict], matrices: list[str] | None = None) -> list[dict]:
    """Each shipped matrix priced from the measured time per sample: for every cell whose
    network was timed, steps x global batch x (step time / timed batch), with the cell's own
    activation where it was timed and the fixed activation's otherwise. Cells of other
    networks are counted, not priced."""
    from suite.matrix import expand, shipped
    from suite.tasks.recipes import get_recipe

    per_sample = {}
    for row in rows:
        if "step_s" in row and row.get("impl") == "suite":
            per_sample[(row["model"], row["activation"].partition(":")[0])] = row["step_s"] / row["batch"]
            per_sample.setdefault((row["model"], row["fixed"]), row["fixed_step_s"] / row["batch"])
    out = []
    for name in matrices or shipped():
        priced, unpriced, hours = 0, 0, 0.0
        try:
            cells = expand(name)
        except Exception as exc:  # noqa: BLE001
            out.append({"matrix": name, "error": f"{type(exc).__name__}: {exc}"})
            continue
        for cell in cells:
            fixed = next((r["fixed"] for r in rows if r.get("model") == cell.arch and "fixed" in r), None)
            t = per_sample.get((cell.arch, cell.activation), per_sample.get((cell.arch, fixed)))
            recipe = get_recipe(cell.task, cell.recipe, cell.recipe_overrides)
            samples = TRAIN_SAMPLES.get(cell.dataset)
            steps = recipe.steps if recipe.steps is not None else (
                recipe.total_steps(math.ceil(samples / recipe.batch_size)) if samples else None)
            if t is None or steps is None:
                unpriced += 1
                continue
            priced += 1
            hours += steps * recipe.batch_size * t / 3600
        out.append({"matrix": name, "cells": len(cells), "priced_cells": priced, "unpriced_cells": unpriced,
                    "gpu_hours": hours})
    return out
