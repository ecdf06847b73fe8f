"""`python -m suite doctor --gpu`: the GPU check, rehearsed end to end on the CPU.

The rehearsal runs every section as the GPU run will (Triton's interpreter for the
kernels, stand-in networks for the steps, a 2-rank gloo DDP cell with a resume), so the one
short GPU run that issue 27 can afford is not spent finding a bug in the script.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from suite.bench import gpu_markdown

REPO = Path(__file__).resolve().parents[1]


def _doctor(*args, env=None, timeout=900):
    return subprocess.run([sys.executable, "-m", "suite", "doctor", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})}, timeout=timeout)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_without_a_gpu_the_check_refuses_in_one_line_and_points_at_the_rehearsal(tmp_path):
    proc = _doctor("--gpu", "--out", str(tmp_path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error:") and "--rehearse" in proc.stderr


def test_the_rehearsal_runs_every_section_and_writes_json_and_markdown(tmp_path):
    proc = _doctor("--gpu", "--rehearse", "--out", str(tmp_path / "gpu"), "--section", "kernels",
                   "--section", "train_steps", "--section", "gpu_hours", "--section", "ddp",
                   "--section", "cuda_bench_tests")
    report = json.loads((tmp_path / "gpu" / "gpu-check.json").read_text())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sections = report["sections"]
    assert report["rehearsal"] is True and sections["environment"]["result"]["device"] == "cpu"
    assert not [name for name, entry in sections.items() if "error" in entry]

    kernels = sections["kernels"]["result"]
    assert {(r["activation"], r["dtype"]) for r in kernels} >= {("pwlu", "fp32"), ("hermite:degree=3", "bf16")}
    for row in kernels:
        assert "error" not in row, row
        assert row["kernel_trusted"] is True  # the Triton code ran, not the reference behind it
        assert all(0 < row["kernel"][p]["ratio_to_copy"] < float("inf") for p in ("fwd", "bwd", "fwdbwd"))
    assert all("torchortho" in r for r in kernels if r["activation"].split(":")[0] in ("hermite", "fourier", "tropical"))

    steps = sections["train_steps"]["result"]
    assert {r["model"] for r in steps} == {"resnet50", "convnext_tiny", "gpt2"}
    assert all("error" not in r and r["step_s"] > 0 and r["ratio_to_fixed"] > 0 for r in steps)
    assert all(r["speedup_of_suite"] > 0 for r in steps if r["impl"] == "torchortho")

    hours = {r["matrix"]: r for r in sections["gpu_hours"]["result"]}
    assert hours["paper-ortho"]["priced_cells"] == hours["paper-ortho"]["cells"] > 0
    assert hours["paper-ortho"]["gpu_hours"] > 0

    ddp = sections["ddp"]["result"]
    assert ddp["passed"], ddp["problems"]
    saved_at = ddp["stop"][0][1]["step"]
    assert 0 < saved_at < ddp["steps"] and [r[1]["resumed_from_step"] for r in ddp["resume"]] == [saved_at] * 2

    bench = sections["cuda_bench_tests"]["result"]
    assert bench["skipped"] == bench["tests"] > 0  # no GPU: every cuda_bench case skips, none is lost
    text = (tmp_path / "gpu" / "README.md").read_text()
    assert "CPU rehearsal" in text and "## Targets" in text and "| pwlu | fp32 |" in text


def test_the_markdown_names_every_missed_target():
    kernel = {p: {"bandwidth_fraction": f, "time_s": 1.0, "ratio_to_copy": 1 / f}
              for p, f in (("fwd", 0.9), ("bwd", 0.5), ("fwdbwd", 0.6))}
    report = {"started": "now", "rehearsal": False, "sections": {
        "environment": {"result": {"gpu": "H100"}, "wall_s": 0},
        "kernels": {"result": [{"activation": "pau", "dtype": "bf16", "kernel": kernel, "kernel_trusted": True,
                                "meets_target": False, "reference": {"time_s": 3.0}}], "wall_s": 1},
        "train_steps": {"result": [
            {"model": "gpt2", "batch": 8, "activation": "fourier:degree=5", "impl": "suite", "fixed": "gelu",
             "step_s": 0.2, "fixed_step_s": 0.1, "ratio_to_fixed": 2.0, "meets_target": False},
            {"model": "gpt2", "batch": 8, "activation": "fourier:degree=5", "impl": "torchortho", "fixed": "gelu",
             "step_s": 1.0, "fixed_step_s": 0.1, "ratio_to_fixed": 10.0, "speedup_of_suite": 5.0,
             "meets_target": False}], "wall_s": 1},
        "ddp": {"error": "RuntimeError: boom", "wall_s": 1}}}
    text = gpu_markdown.markdown(report)
    assert "0 of 1 (activation, dtype) pairs; missed: pau bf16" in text
    assert "within 1.15x of the fixed activation's: 0 of 1" in text and "faster than torchortho's step: 0 of 1" in text
    assert "**Failed:** `RuntimeError: boom`" in text and "| pau | bf16 | 90 % | 50 % | 60 % | **no** | 3.0x |" in text
