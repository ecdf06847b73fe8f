"""``python -m suite doctor --gpu``: the CUDA path checked and timed on one GPU, in one run.

Sections, in this order, each written to ``<out>/gpu-check.json`` and ``<out>/README.md``
as soon as it ends (a run cut short by its time limit keeps what it measured):
environment (device, driver, torch, Triton, CUDA), the Triton correctness tests, the
kernels (``gpu_kernels``), training steps (``gpu_train``), the shipped matrices in
GPU-hours, one DDP cell stopped and resumed (``gpu_ddp``), and the ``cuda_bench`` tests.
A section that fails records its error and the next one runs.

``--rehearse`` runs every section on the CPU: Triton's interpreter for the kernels, small
shapes and stand-in networks. It proves the script end to end where there is no GPU (the
test suite runs it) so that GPU time is spent on one prepared run.
"""
from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from suite.errors import SuiteError

REPO = Path(__file__).resolve().parents[2]
KERNEL_SHAPE = (64, 256, 56, 56)
REHEARSAL_SHAPE = (2, 4, 16, 16)


def environment(device) -> dict:
    import torch

    env = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
           "host": platform.node(), "device": str(device)}
    try:
        import triton

        env["triton"] = triton.__version__
    except ImportError:
        env["triton"] = None
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(gpu=props.name, capability=f"{props.major}.{props.minor}", gpu_memory_gb=props.total_memory / 2**30)
        try:
            env["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                           capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            env["driver"] = None
    try:
        env["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                           timeout=10).stdout.strip() or None
    except OSError:
        env["git_commit"] = None
    return env


def pytest_section(out: Path, name: str, args: list[str], timeout_s: float) -> dict:
    """Run pytest on ``args`` from the checkout; counts and failures from its JUnit XML."""
    if not (REPO / "tests").is_dir():
        return {"skipped": f"no tests/ folder beside the package ({REPO}): run from a checkout"}
    junit = out / f"junit-{name}.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", *args]
    shown = " ".join(["python", *cmd[1:]])
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"command": shown, "error": f"timed out after {timeout_s:.0f} s"}
    result = {"command": shown, "exit_code": proc.returncode,
              "wall_s": time.perf_counter() - started, "tail": proc.stdout[-1500:]}
    if junit.is_file():
        suite_el = ET.parse(junit).getroot()
        suite_el = suite_el if suite_el.tag == "testsuite" else suite_el.find("testsuite")
        counts = {k: int(suite_el.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
        counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
        result.update(counts)
        result["failed"] = [f"{case.get('classname')}::{case.get('name')}: "
                            f"{(bad.get('message') or '').splitlines()[0][:200] if bad.get('message') else ''}"
                            for case in suite_el.iter("testcase")
                            for bad in list(case.findall("failure")) + list(case.findall("error"))]
    return result


def run(out: Path, *, rehearse: bool = False, sections: list[str] | None = None,
        progress: Callable[[str], None] = print) -> dict:
    """Run the sections (all by default) and write the report; returns it."""
    import torch

    from suite.bench import gpu_ddp, gpu_kernels, gpu_train

    if not rehearse and not torch.cuda.is_available():
        raise SuiteError("doctor --gpu needs a CUDA GPU and none is visible (torch.cuda.is_available() is False); "
                         "use --rehearse to run every section on the CPU under Triton's interpreter.")
    device = torch.device("cpu") if rehearse else torch.device("cuda", 0)
    out.mkdir(parents=True, exist_ok=True)
    shape = REHEARSAL_SHAPE if rehearse else KERNEL_SHAPE
    models = gpu_train.REHEARSAL_MODELS if rehearse else gpu_train.GPU_MODELS
    timing = gpu_kernels.Timing(rounds=3, block_s=0.0, budget_s=0.05) if rehearse else gpu_kernels.Timing()
    acts = ("pwlu", "pwlu:channels=4", "hermite:degree=3", "fourier:degree=5", "tropical:degree=5", "pau",
            "swish_beta") if rehearse else gpu_kernels.KERNEL_ACTS
    report: dict = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "rehearsal": rehearse,
                    "sections": {}}
    steps: dict[str, Callable[[], object]] = {
        "environment": lambda: environment(device),
        "triton_tests": lambda: pytest_section(out, "triton", ["tests/test_fused_triton.py"], 240),
        "kernels": lambda: gpu_kernels.run(shape, device, timing, acts=acts, progress=progress),
        "train_steps": lambda: gpu_train.run(models, device, rounds=3 if rehearse else 5, progress=progress),
        "gpu_hours": lambda: gpu_train.gpu_hours(report["sections"].get("train_steps", {}).get("result", [])),
        "ddp": lambda: gpu_ddp.run("cpu" if rehearse else "cuda:0"),
        "cuda_bench_tests": lambda: pytest_section(out, "cuda-bench", ["-m", "cuda_bench",
                                                                         "tests/bench/test_cuda_throughput.py"], 240),
    }
    unknown = sorted(set(sections or []) - set(steps))
    if unknown:
        raise SuiteError(f"section {unknown[0]!r} is not accepted; expected one of {', '.join(steps)}.")
    for name, fn in steps.items():
        if sections and name not in sections and name != "environment":
            continue
        progress(f"section {name}")
        started = time.perf_counter()
        try:
            entry = {"result": fn()}
        except Exception as exc:  # noqa: BLE001 - one section's failure must not lose the rest
            entry = {"error": f"{type(exc).__name__}: {exc}"}
        entry["wall_s"] = time.perf_counter() - started
        report["sections"][name] = entry
        write(report, out)
    return report


def write(report: dict, out: Path) -> None:
    from suite.bench.gpu_markdown import markdown
    from suite.atomic import atomic_write_text

    atomic_write_text(out / "gpu-check.json", json.dumps(report, indent=1, default=str))
    atomic_write_text(out / "README.md", markdown(report))
