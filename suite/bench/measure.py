"""Measurement primitives: timing, bytes saved for backward, peak memory.

Every timing goes through ``torch.utils.benchmark.Timer`` (warm-up, then blocks of calls;
median and interquartile range are reported). Functions that are compared (a kernel, the
copy moving its bytes and ReLU; or two training steps) are timed in alternation, round by
round, and their ratio is the median of the per-round ratios: on a shared machine only
ratios taken that way are meaningful, and they are what the suite reports.
"""
from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
from torch.utils import benchmark


@dataclass(frozen=True)
class Timing:
    median_s: float
    iqr_s: float
    runs: int

    def as_dict(self) -> dict:
        return {"median_s": self.median_s, "iqr_s": self.iqr_s, "runs": self.runs}


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory in the process (no trimming, large blocks reused
    rather than unmapped), as a long training process ends up doing anyway.

    Without it, whether a fresh 13 MB output page-faults depends on glibc's adaptive
    thresholds, i.e. on what ran just before: measured here, ReLU's own forward+backward
    took 1.2 ms or 2.0 ms depending on which activation it alternated with. Returns
    False where there is no glibc (nothing changed)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_trim_threshold, 1 << 30)) and bool(mallopt(m_mmap_threshold, 32 << 20))  # 32 MiB: glibc's max


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timing(times: list[float]) -> Timing:
    q1, median, q3 = statistics.quantiles(times, n=4, method="inclusive") if len(times) > 1 else times * 3
    return Timing(median_s=median, iqr_s=q3 - q1, runs=len(times))


@dataclass(frozen=True)
class Interleaved:
    """Per-call times of several functions, one sample per function per round."""

    samples: dict[str, list[float]]

    def timing(self, name: str) -> Timing:
        return _timing(self.samples[name])

    def ratio(self, name: str, reference: str) -> Timing:
        """Median and IQR over rounds of name's time / reference's time in the same round:
        a burst of load hits both sides of each quotient alike."""
        return _timing([a / b for a, b in zip(self.samples[name], self.samples[reference])])


def time_interleaved(fns: dict[str, Callable[[], object]], device: torch.device, quick: bool = False,
                     rounds: int | None = None, block_s: float | None = None,
                     budget_s: float | None = None) -> Interleaved:
    """Time several functions in alternation: in each round, a block of calls of each
    (``torch.utils.benchmark.Timer.timeit``, which synchronises CUDA), in an order that
    rotates from round to round. Ratios between them are then taken round by round.

    First every function runs for a warm-up (which also triggers torch.compile and C++
    builds, and faults in fresh memory), then a block size is chosen per function so a
    block lasts about ``block_s``. ``rounds`` (default 15, quick 3) is cut down, to no fewer
    than 3, when the rounds would take more than ``budget_s`` (a slow peer takes seconds
    a call)."""
    block_s = block_s if block_s is not None else (0.002 if quick else 0.02)
    budget_s = budget_s if budget_s is not None else (0.2 if quick else 2.0)
    rounds = rounds if rounds is not None else (3 if quick else 15)
    warmup_s = 0.01 if quick else 0.2
    timers = {name: benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
              for name, fn in fns.items()}
    per_call = {}
    for name, fn in fns.items():
        calls, start = 0, time.perf_counter()
        while calls < 2 or (time.perf_counter() - start < warmup_s and calls < 1000):
            fn()
            _sync(device)
            calls += 1
        per_call[name] = timers[name].timeit(1).mean  # one clean call after the warm-up
    number = {name: max(1, round(block_s / t)) for name, t in per_call.items()}
    round_s = sum(number[name] * per_call[name] for name in fns)
    rounds = max(3, min(rounds, int(budget_s / round_s))) if round_s > 0 else rounds
    names = list(fns)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            samples[name].append(timers[name].timeit(number[name]).mean)
    return Interleaved(samples)


def saved_tensor_bytes(run_forward: Callable[[], torch.Tensor],
                       exclude: Iterable[torch.Tensor] = ()) -> tuple[int, int]:
    """(bytes, count) of the tensors autograd saves for backward while ``run_forward()``.

    Storages are counted once however many tensors view them (e.g. a function that
    saves both x and a view of x costs one x), which is what backward really keeps alive.
    Storages of ``exclude`` (the module's parameters, which live anyway) are not counted.
    """
    skip = {t.untyped_storage().data_ptr() for t in exclude}
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor):
        storage = t.untyped_storage()
        if storage.data_ptr() not in skip:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        run_forward()
    return sum(storages.values()), len(storages)


def peak_memory_bytes(fn: Callable[[], object], device: torch.device) -> int | None:
    """Peak extra device memory of one ``fn()``: CUDA from the caching allocator's
    statistics, CPU from the profiler's allocation events (None if it gives none)."""
    if device.type != "cuda":
        return _cpu_peak_bytes(fn)
    _sync(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    fn()
    _sync(device)
    return torch.cuda.max_memory_allocated(device) - base


@contextlib.contextmanager
def _stderr_silenced():
    """The profiler's C++ side logs its start and stop straight to file descriptor 2."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _cpu_peak_bytes(fn: Callable[[], object]) -> int | None:
    """The CPU allocator reports every allocation and free to the profiler (inductor's
    and C++ extensions' buffers included); their running sum in time order peaks at
    the most memory ``fn()`` held at once beyond what existed before it."""
    from torch.profiler import ProfilerActivity, profile

    try:
        with _stderr_silenced(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            fn()
        events = prof.profiler.kineto_results.events()
        changes = sorted((e.start_ns(), e.nbytes()) for e in events if e.name() == "[memory]")
    except (AttributeError, RuntimeError):  # a profiler without these events
        return None
    if not changes:
        return None
    held = peak = 0
    for _, nbytes in changes:
        held += nbytes
        peak = max(peak, held)
    return peak


def leaf_parameters(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p for p in module.parameters() if p.requires_grad]

