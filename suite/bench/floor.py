"""`bench --floor`: how much of a kernel's time memory could still give back.

A fused activation moves the bytes ReLU moves (x, y, dy, dx), so at the benchmark's size,
where those come from DRAM, its time over ReLU's is its arithmetic over ReLU's memory
traffic. Timed on inputs that stay in the last-level cache, it costs what its arithmetic
costs, plus a fixed cost per call (autograd, launching threads, a unit's small tensor ops
on its parameters). Two in-cache sizes, n and about n / 2, separate the two: the time per
element is the slope (t(n) - t(n/2)) / (n - n/2), the fixed cost what is left at n. That
time per element over ReLU's at the full size is the kernel's *compute floor*: the ratio
to ReLU that no change of memory layout, blocking or fusion can take it below, only
fewer operations. A kernel whose ratio is near its floor is compute-bound; ReLU's own
floor says how memory-bound the reference is.

The subject at full size, at both in-cache sizes and ReLU at full size are timed in
alternation (``measure.time_interleaved``); each ratio is a median of per-round ratios.
"""
from __future__ import annotations

import statistics
from typing import Callable, Iterable

import torch
from rich.console import Console
from rich.table import Table

from suite.bench import harness, measure
from suite.bench.run import with_channels
from suite.bench.subjects import build, parse_act, resolve_impls
from suite.errors import bad_value

IN_CACHE_BYTES = 8 << 20  # x, y, dy and dx together: well inside the 32 MB L3 of the machines measured here


def in_cache_shape(shape: tuple[int, ...], element_size: int = 4) -> tuple[int, ...]:
    """``shape`` with dim 0 cut so that four tensors of it take about IN_CACHE_BYTES
    (dims 1.. kept: per-channel units see the same channels and rows)."""
    per_sample = max(1, torch.Size(shape[1:]).numel()) * element_size * 4
    return (max(1, min(shape[0], IN_CACHE_BYTES // per_sample)), *shape[1:])


def run(acts: Iterable[str], shape=(32, 100, 1000), quick: bool = False,
        progress: Callable[[str], None] | None = None) -> list[dict]:
    measure.keep_freed_memory()
    shape = tuple(shape)
    cpu = torch.device("cpu")
    full = harness.Workload(shape, cpu, torch.float32, quick)
    big_shape = in_cache_shape(shape)
    if big_shape[0] < 2:
        raise bad_value("shape", ",".join(map(str, shape)),
                        f"a dim 0 whose two samples fit {IN_CACHE_BYTES >> 20} MB in four tensors (--floor cuts dim 0)")
    big = harness.Workload(big_shape, cpu, torch.float32, quick)
    half = harness.Workload((big_shape[0] // 2, *big_shape[1:]), cpu, torch.float32, quick)
    relu = harness.pass_functions(torch.nn.ReLU(), full)["fwdbwd"]
    rows = []
    for text in acts:
        spec = with_channels(parse_act(text), shape)
        impl = resolve_impls(spec, "auto", full.x)[0]
        module = build(spec, impl, cpu, torch.float32).module
        if progress:
            progress(f"{spec.label} [{impl}]")
        timed = measure.time_interleaved({name: harness.pass_functions(module, work)["fwdbwd"]
                                          for name, work in (("full", full), ("in_cache", big), ("in_cache_half", half))}
                                         | {"relu": relu}, cpu, quick)
        per_element = [(b - h) / (big.numel - half.numel)
                       for b, h in zip(timed.samples["in_cache"], timed.samples["in_cache_half"])]
        rows.append({
            "label": spec.label, "impl": impl, "shape": list(shape), "in_cache_shapes": [list(big.shape), list(half.shape)],
            "ratio_to_relu": timed.ratio("full", "relu").median_s,
            "floor_ratio_to_relu": statistics.median(e * full.numel / r for e, r in zip(per_element, timed.samples["relu"])),
            "fixed_s": statistics.median(b - e * big.numel for b, e in zip(timed.samples["in_cache"], per_element)),
            "samples_s": timed.samples,  # per-call times per round: full, in_cache, in_cache_half, relu
        })
    return rows


def print_rows(rows: list[dict]) -> None:
    if not rows:
        return
    first = rows[0]
    sizes = " and ".join("x".join(map(str, s)) for s in first["in_cache_shapes"])
    table = Table(title=f"cpu float32 fwd+bwd, shape {'x'.join(map(str, first['shape']))}; compute floor per element "
                        f"from shapes {sizes} (in cache); medians of per-round ratios")
    for col in ("activation", "impl", "f+b ×relu", "floor ×relu", "floor / time", "fixed µs/call"):
        table.add_column(col, justify="left" if col in ("activation", "impl") else "right")
    for r in rows:
        table.add_row(r["label"], r["impl"], f"{r['ratio_to_relu']:.2f}", f"{r['floor_ratio_to_relu']:.2f}",
                      f"{r['floor_ratio_to_relu'] / r['ratio_to_relu']:.0%}", f"{r['fixed_s'] * 1e6:.0f}")
    Console(width=160).print(table)
