"""Run a benchmark: for every subject, the copy and ReLU references then the subject; records out."""
from __future__ import annotations

import math
import os
from typing import Callable, Iterable, Iterator

import torch

import suite.activations as A
from suite.bench import harness, measure, peers
from suite.bench.subjects import ActSpec, Subject, build, parse_act, resolve_impls
from suite.errors import bad_value

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp64": torch.float64}
EXTRA_DEFAULT_ACTS = ("hermite:degree=8",)  # a high degree gets its own row


def default_acts() -> list[str]:
    """Every registered activation (degree 3 where one is needed), plus hermite degree 8."""
    return [entry.name for entry in A.ACTIVATIONS] + list(EXTRA_DEFAULT_ACTS)


def matrix_acts(name_or_path: str) -> list[str]:
    """The activations of a matrix with the parameters it trains them with (one spec per
    distinct pair), so the leaderboard's speed column times what its rows trained."""
    from suite.matrix import expand

    specs = []
    for cell in expand(name_or_path):
        spec = ActSpec(cell.activation, dict(cell.act_params)).label  # "name:k=v,..." as --act takes it
        if spec not in specs:
            specs.append(spec)
    return specs


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in text.split(","))
    except ValueError:
        shape = ()
    if not shape or any(n < 1 for n in shape):
        raise bad_value("shape", text, "comma-separated positive integers, e.g. 32,100,1000")
    # Refuse before allocating: a bench holds several tensors of this shape at once
    # (input, output, gradients; float64 at most), and a huge one ends in an out-of-memory
    # traceback or a swap storm instead of an answer.
    numel = math.prod(shape)
    need = numel * 8 * BENCH_TENSORS
    if need > memory_bytes():
        raise bad_value("shape", text, f"at most about {memory_bytes() // (8 * BENCH_TENSORS):,} elements "
                        f"on this machine (this shape has {numel:,})")
    return shape


BENCH_TENSORS = 6  # tensors of the input's shape a timing holds at once, with margin


def memory_bytes() -> int:
    """Physical memory of this machine (a large default where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 40


def parse_device(text: str) -> torch.device:
    if text not in ("cpu", "cuda"):
        raise bad_value("device", text, "cpu or cuda")
    if text == "cuda" and not torch.cuda.is_available():
        raise bad_value("device", text, "cpu (no CUDA device is visible)")
    return torch.device(text)


def parse_dtype(text: str) -> torch.dtype:
    if text not in DTYPES:
        raise bad_value("dtype", text, ", ".join(DTYPES))
    return DTYPES[text]


def with_channels(spec: ActSpec, shape: tuple[int, ...]) -> ActSpec:
    """Activations that cannot be built without ``channels`` get the input's dim 1."""
    if A.ACTIVATIONS.get(spec.name).info.get("needs_channels") and "channels" not in spec.params:
        if len(shape) < 2:
            raise bad_value("shape", ",".join(map(str, shape)),
                            f"at least two dimensions (N, C, ...) for {spec.name}, which needs channels")
        return ActSpec(spec.name, {**spec.params, "channels": shape[1]})
    return spec


def subjects(specs: Iterable[ActSpec], impl: str, work: harness.Workload, with_peers: bool) -> Iterator[Subject]:
    for spec in specs:
        for concrete in resolve_impls(spec, impl, work.x):
            yield build(spec, concrete, work.device, work.dtype)
        if with_peers:
            for peer_name, factory in peers.peers_for(spec, work.device).items():
                module = factory(spec).to(work.device, work.dtype)
                yield Subject(spec, f"peer:{peer_name}", module)


def run(acts: Iterable[str] | None = None, *, device="cpu", dtype="fp32", shape=(32, 100, 1000),
        impl="auto", with_peers=False, quick=False,
        progress: Callable[[str], None] | None = None) -> list[dict]:
    """Benchmark every activation spec; returns the records (not yet stored).

    Each subject is timed in alternation with its references (copy, ReLU), so its ratios
    come from timings taken milliseconds apart under the same machine load."""
    measure.keep_freed_memory()
    shape = tuple(shape)
    specs = [with_channels(parse_act(a), shape) for a in (acts or default_acts())]
    work = harness.Workload(shape, parse_device(device) if isinstance(device, str) else device,
                            parse_dtype(dtype) if isinstance(dtype, str) else dtype, quick)
    records = []
    for subject in subjects(specs, impl, work, with_peers):
        if progress:
            progress(f"{subject.spec.label} [{subject.impl}]")
        records.append(harness.make_record(subject, work, harness.time_subject(subject.module, work)))
    return records
