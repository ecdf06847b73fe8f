"""Measurement primitives: timing, bytes saved for backward, peak memory.

Every kernel timing goes through ``torch.utils.benchmark.Timer`` (warm-up, then blocks
of runs for a fixed time; median and interquartile range are reported). Slow functions
(training steps) are timed in alternation instead. Only ratios between timings of the
same run are meaningful on a shared machine.
"""
from __future__ import annotations

import statistics
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


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


MIN_RUNS = 7  # a median and an IQR need several samples, even of a slow function


def _timing(times: list[float]) -> Timing:
    q1, median, q3 = statistics.quantiles(times, n=4, method="inclusive") if len(times) > 1 else times * 3
    return Timing(median_s=median, iqr_s=q3 - q1, runs=len(times))


def time_it(fn: Callable[[], object], device: torch.device, quick: bool = False) -> Timing:
    """Median and IQR of ``fn()``; warm-up first (it also triggers torch.compile).

    ``blocked_autorange`` with a fixed time budget keeps a full run predictable on a loaded
    machine (``adaptive_autorange`` can spin to its maximum when load fluctuates); a
    function slower than the budget is run again until there are ``MIN_RUNS`` samples."""
    for _ in range(2 if quick else 3):
        fn()
    _sync(device)
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    times = list(timer.blocked_autorange(min_run_time=0.02 if quick else 0.5).times)
    while len(times) < (3 if quick else MIN_RUNS):
        times.extend(timer.timeit(number=1).times)
    return _timing(times)


def time_interleaved(fns: dict[str, Callable[[], object]], device: torch.device,
                     rounds: int = MIN_RUNS, warmup: int = 2) -> dict[str, Timing]:
    """Time several slow functions in alternation (a, b, a, b, ...), one call each per
    round, so a burst of load on a shared machine hits all of them alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: _timing(t) for name, t in times.items()}


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
    """Peak extra device memory of one ``fn()`` (CUDA only; None on CPU)."""
    if device.type != "cuda":
        return None
    _sync(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    fn()
    _sync(device)
    return torch.cuda.max_memory_allocated(device) - base


def leaf_parameters(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p for p in module.parameters() if p.requires_grad]

