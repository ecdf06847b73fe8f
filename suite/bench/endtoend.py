"""End to end: one training step (forward, backward, SGD step) per activation, as a ratio to ReLU.

The kernel tables say how fast an activation is alone; this says what it costs inside a
real step (convolutions, batch norm, loss, optimizer). Two workloads: the suite's
``resnet_tiny`` on digits-sized 1x8x8 inputs (what the embedded matrix trains), and the
same network on 1x32x32 inputs: 16x the activation elements per call, so fixed per-call
costs (dispatch, compiled-graph guards) no longer hide the per-element cost. A wider
network would not help: convolution work per activation element grows with the width.
Each activation's steps alternate with ReLU's steps (same machine load).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import torch
from rich.console import Console
from rich.table import Table

from suite.bench import measure
from suite.bench.run import parse_device
from suite.bench.subjects import parse_act

DEFAULT_ACTS = ("pwlu", "hermite:degree=3")


@dataclass(frozen=True)
class Model:
    label: str
    arch: str
    input_shape: tuple[int, ...]
    arch_kw: dict = field(default_factory=dict)


MODELS = (
    Model("resnet_tiny", "resnet_tiny", (1, 8, 8)),
    Model("resnet_tiny@32px", "resnet_tiny", (1, 32, 32)),
)


def train_step_fn(model_spec: Model, act: str, act_params: dict, device: torch.device, batch: int):
    from suite.architectures import create

    torch.manual_seed(0)
    model = create(model_spec.arch, act=act, act_params=act_params or None, num_classes=10,
                   **model_spec.arch_kw).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, *model_spec.input_shape, device=device)
    target = torch.randint(0, 10, (batch,), device=device)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), target)
        loss.backward()
        opt.step()
        return loss

    return step


def run(acts=None, *, device="cpu", batch: int = 256, quick: bool = False,
        models: tuple[Model, ...] = MODELS) -> list[dict]:
    measure.keep_freed_memory()
    dev = parse_device(device) if isinstance(device, str) else device
    specs = [parse_act(a) for a in (acts or DEFAULT_ACTS)]
    records = []
    for model in models:
        for spec in specs:
            steps = {"relu": train_step_fn(model, "relu", {}, dev, batch),
                     "act": train_step_fn(model, spec.name, spec.params, dev, batch)}
            timed = measure.time_interleaved(steps, dev, quick, rounds=3 if quick else 9, block_s=0, budget_s=60)
            relu, t, ratio = timed.timing("relu"), timed.timing("act"), timed.ratio("act", "relu")
            records.append({
                "status": "done", "benchmark": "train_step", "model": model.label, "arch": model.arch,
                "arch_kw": model.arch_kw, "input_shape": list(model.input_shape), "batch": batch,
                "activation": spec.name, "act_params": spec.params, "label": spec.label,
                "impl": "auto", "device": dev.type, "dtype": "float32",
                "step": t.as_dict(), "relu_step": relu.as_dict(),
                "ratio_to_relu": ratio.median_s, "ratio_to_relu_iqr": ratio.iqr_s,
                "samples_s": {"step": timed.samples["act"], "relu_step": timed.samples["relu"]}, "quick": quick,
            })
    return records


def record_key(record: dict) -> str:
    fields = {k: record[k] for k in ("benchmark", "model", "activation", "act_params", "device", "batch")}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def print_records(records: list[dict]) -> None:
    table = Table(title=f"training step (forward, backward, SGD), batch {records[0]['batch'] if records else '-'}: "
                        "ms median ± IQR; steps alternate with ReLU's")
    for col in ("model", "activation", "step", "relu step", "×relu"):
        table.add_column(col, justify="left" if col in ("model", "activation") else "right")
    for r in records:
        s, b = r["step"], r["relu_step"]
        table.add_row(r["model"], r["label"], f"{s['median_s'] * 1e3:.2f}±{s['iqr_s'] * 1e3:.2f}",
                      f"{b['median_s'] * 1e3:.2f}±{b['iqr_s'] * 1e3:.2f}", f"{r['ratio_to_relu']:.2f}")
    Console(width=160).print(table)
