"""The GPU check's training-loop section: one short DDP cell, stopped and resumed.

Two processes train the embedded digits cell (PWLU, so its phases and its fused kernel
are in the loop) under DistributedDataParallel on the device under test: once without
interruption, once stopped at a checkpoint and resumed in fresh processes. On one GPU the
two ranks share it, which NCCL refuses, so they talk over gloo (``SUITE_DIST_BACKEND``);
the loop, autocast, checkpoint and resume are the ones every paper cell runs.
"""
from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

STEPS, STOP_AT = 20, 10


def cell(steps: int = STEPS):
    from suite.cell import Cell

    # phase I (PWLU's statistics) the first 15 % of training: realigned before the stop
    return Cell(activation="pwlu", act_params={"per_channel": True, "statistics": 0.15}, arch="cnn_small",
                task="classification", dataset="digits", recipe="smoke",
                recipe_overrides={"steps": steps, "checkpoint_every": STOP_AT}, seed=0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, device: str, backend: str, workdir: str, stop_at: int | None, queue):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port), SUITE_DIST_BACKEND=backend)
    import torch
    import torch.distributed as dist

    from suite.tasks import loop, run_cell
    from suite.tasks.loop import StopRequested, request_checkpoint_and_stop

    torch.set_num_threads(1)
    if stop_at is not None:
        loop.STEP_HOOKS.append(lambda s: request_checkpoint_and_stop() if s == stop_at else None)
    try:
        result = run_cell(cell(), workdir, device=device, progress=False)
        queue.put((rank, "done", {k: result[k] for k in ("metrics", "steps", "resumed_from_step", "status")}))
    except StopRequested as stop:
        queue.put((rank, "stopped", {"step": stop.step}))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which decides
        queue.put((rank, "error", {"error": f"{type(exc).__name__}: {exc}"}))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _launch(device: str, backend: str, workdir: Path, stop_at: int | None, world: int = 2) -> list[tuple]:
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.start_processes(_worker, args=(world, _free_port(), device, backend, str(workdir), stop_at, queue),
                       nprocs=world, start_method="spawn")
    return sorted(queue.get() for _ in range(world))


def run(device: str = "cuda:0", backend: str | None = None, tolerance: float = 1e-4) -> dict:
    """Uninterrupted vs stopped-at-``STOP_AT``-and-resumed: both ranks finish, agree, and
    the resumed run's metrics equal the uninterrupted run's (within ``tolerance``: cuDNN
    and bf16 reductions need not be bit-exact across process starts on a GPU)."""
    backend = backend or "gloo"
    with tempfile.TemporaryDirectory(prefix="suite-gpu-ddp-") as tmp:
        straight = _launch(device, backend, Path(tmp) / "straight", None)
        stopped = _launch(device, backend, Path(tmp) / "resumed", STOP_AT)
        resumed = _launch(device, backend, Path(tmp) / "resumed", None)
    out = {"device": device, "backend": backend, "world_size": 2, "steps": STEPS, "stopped_at": STOP_AT,
           "uninterrupted": [r[1:] for r in straight], "stop": [r[1:] for r in stopped],
           "resume": [r[1:] for r in resumed]}
    problems = [f"{what} rank {r[0]}: {r[1]} {r[2]}" for what, runs, want in
                (("uninterrupted", straight, "done"), ("stop", stopped, "stopped"), ("resume", resumed, "done"))
                for r in runs if r[1] != want]
    if not problems:
        m_straight, m_resumed = straight[0][2]["metrics"], resumed[0][2]["metrics"]
        if straight[0][2]["metrics"] != straight[1][2]["metrics"]:
            problems.append(f"ranks disagree: {straight[0][2]['metrics']} vs {straight[1][2]['metrics']}")
        saved_at = stopped[0][2]["step"]  # the checkpoint the stop wrote
        if any(r[2]["resumed_from_step"] != saved_at for r in resumed):
            problems.append(f"resumed from step {[r[2]['resumed_from_step'] for r in resumed]}, "
                            f"expected {saved_at} (where the stop saved)")
        diffs = {k: abs(m_straight[k] - m_resumed[k]) for k in m_straight
                 if isinstance(m_straight[k], (int, float)) and isinstance(m_resumed.get(k), (int, float))}
        out["max_metric_difference"] = max(diffs.values(), default=0.0)
        if out["max_metric_difference"] > tolerance:
            problems.append(f"resumed metrics differ from the uninterrupted run's by up to {out['max_metric_difference']:.3g}")
    out["problems"] = problems
    out["passed"] = not problems
    return out
