"""Time one module's forward, backward and forward+backward, and turn it into a record.

Bytes moved (the "effective" traffic of an ideal kernel, not what it really moves):
forward reads x and writes y (2 tensors), backward reads x and dy and writes dx (3),
forward+backward is the sum (5). The bandwidth reference moves exactly those bytes:
``out.copy_(x)`` for forward, ``torch.add(x, dy, out=out)`` (2 in, 1 out) for backward
and both for forward+backward, so ``ratio_to_copy`` = 1.0 means memory speed. The ReLU
reference is ``nn.ReLU`` with autograd, the baseline every table compares to. Subject, copy
and ReLU are timed in alternation, and each ratio is the median of per-round ratios.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Callable

import torch

from suite.bench import measure
from suite.bench.subjects import Subject

PASSES = ("fwd", "bwd", "fwdbwd")
TENSORS_MOVED = {"fwd": 2, "bwd": 3, "fwdbwd": 5}


@dataclass
class Workload:
    """Inputs shared by every subject of one (device, dtype, shape)."""

    shape: tuple[int, ...]
    device: torch.device
    dtype: torch.dtype
    quick: bool = False

    def __post_init__(self):
        gen = torch.Generator().manual_seed(0)
        self.x = torch.randn(self.shape, generator=gen).to(self.device, self.dtype)
        self.dy = torch.randn(self.shape, generator=gen).to(self.device, self.dtype)

    @property
    def numel(self) -> int:
        return self.x.numel()

    @property
    def input_bytes(self) -> int:
        return self.numel * self.x.element_size()

    def bytes_moved(self, pass_name: str) -> int:
        return TENSORS_MOVED[pass_name] * self.input_bytes


def pass_functions(module: torch.nn.Module, work: Workload) -> dict[str, Callable[[], object]]:
    """Closures running the forward (autograd recording on, as in training), the backward
    of a graph built once (retain_graph so it can be replayed), and both together.
    Gradients go to the input and to every learnable parameter, as in training."""
    x = work.x.detach().requires_grad_(True)
    inputs = [x, *measure.leaf_parameters(module)]
    dy = work.dy
    y_kept = module(x)

    def fwd():
        return module(x)

    def bwd():
        return torch.autograd.grad(y_kept, inputs, dy, retain_graph=True)

    def fwdbwd():
        return torch.autograd.grad(module(x), inputs, dy)

    return {"fwd": fwd, "bwd": bwd, "fwdbwd": fwdbwd}


def copy_functions(work: Workload) -> dict[str, Callable[[], object]]:
    """The bandwidth reference: the same bytes as each pass, with no math."""
    x, dy = work.x, work.dy
    out = torch.empty_like(x)
    dx = torch.empty_like(x)

    def fwd():
        return out.copy_(x)

    def bwd():
        return torch.add(x, dy, out=dx)

    def fwdbwd():
        out.copy_(x)
        return torch.add(x, dy, out=dx)

    return {"fwd": fwd, "bwd": bwd, "fwdbwd": fwdbwd}


def time_subject(module: torch.nn.Module, work: Workload) -> dict[str, measure.Interleaved]:
    """Per pass, the subject timed in alternation with the copy and ReLU references."""
    subject = pass_functions(module, work)
    copy = copy_functions(work)
    relu = pass_functions(torch.nn.ReLU(), work)
    return {name: measure.time_interleaved({"subject": subject[name], "copy": copy[name], "relu": relu[name]},
                                           work.device, work.quick)
            for name in PASSES}


def saved_bytes(module: torch.nn.Module, work: Workload) -> tuple[int, int]:
    """(bytes, tensors) autograd keeps for backward, parameters excluded."""
    x = work.x.detach().requires_grad_(True)
    return measure.saved_tensor_bytes(lambda: module(x), exclude=list(module.parameters()))


def pass_record(timed: measure.Interleaved, pass_name: str, work: Workload) -> dict:
    timing = timed.timing("subject")
    to_copy, to_relu = timed.ratio("subject", "copy"), timed.ratio("subject", "relu")
    return {
        **timing.as_dict(),
        "elements_per_s": work.numel / timing.median_s,
        "gbps": work.bytes_moved(pass_name) / timing.median_s / 1e9,
        "ratio_to_copy": to_copy.median_s, "ratio_to_copy_iqr": to_copy.iqr_s,
        "ratio_to_relu": to_relu.median_s, "ratio_to_relu_iqr": to_relu.iqr_s,
        "samples_s": timed.samples,  # per-call time in each round: subject, copy, relu
    }


def make_record(subject: Subject, work: Workload, timed: dict[str, measure.Interleaved]) -> dict:
    """One store record: per-pass medians/IQRs, throughput, GB/s and the same-round ratios."""
    saved, saved_count = saved_bytes(subject.module, work)
    fns = pass_functions(subject.module, work)
    return {
        "status": "done",
        "activation": subject.spec.name,
        "act_params": subject.spec.params,
        "label": subject.spec.label,
        "impl": subject.impl,
        "device": work.device.type,
        "dtype": str(work.dtype).removeprefix("torch."),
        "shape": list(work.shape),
        "numel": work.numel,
        **{name: pass_record(timed[name], name, work) for name in PASSES},
        "reference": {ref: {name: timed[name].timing(ref).as_dict() for name in PASSES} for ref in ("copy", "relu")},
        "saved_bytes": saved,
        "saved_tensors": saved_count,
        "input_bytes": work.input_bytes,
        "peak_mem_bytes": measure.peak_memory_bytes(fns["fwdbwd"], work.device),
        "parameters": sum(p.numel() for p in subject.module.parameters()),
        "threads": torch.get_num_threads(),
        "quick": work.quick,
    }


def record_key(record: dict) -> str:
    """Store key: sha256 (16 hex) of (activation, params, impl, device, dtype, shape)."""
    fields = {k: record[k] for k in ("activation", "act_params", "impl", "device", "dtype", "shape")}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]
