"""`python -m suite doctor --gpu`: check and time the CUDA path on one GPU (see suite.bench.gpu_check)."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

from suite.errors import SuiteError

SECTIONS = ("triton_tests", "kernels", "train_steps", "gpu_hours", "ddp", "cuda_bench_tests")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "doctor", help="check and time the GPU path: Triton kernels, training steps, a DDP cell",
        description="Run the Triton tests on CUDA, time every Triton kernel against a same-bytes copy and "
                    "torchortho, time training steps of ResNet-50, ConvNeXt-T and GPT-2 per activation, price "
                    "the shipped matrices in GPU-hours and run one DDP cell with a resume; writes "
                    "gpu-check.json and README.md under --out.",
    )
    p.add_argument("--gpu", action="store_true", help="the GPU check (the only check so far)")
    p.add_argument("--out", default="results/gpu", help="output folder (default results/gpu)")
    p.add_argument("--rehearse", action="store_true",
                   help="run every section on the CPU (Triton's interpreter, small shapes, stand-in networks)")
    p.add_argument("--section", action="append", choices=SECTIONS, help="run only these sections (repeatable)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from pathlib import Path

    if not args.gpu:
        raise SuiteError("doctor needs a check to run; accepted: --gpu.")
    if args.rehearse and os.environ.get("TRITON_INTERPRET") != "1":
        # Triton reads TRITON_INTERPRET when it is imported: run again with it set.
        env = {**os.environ, "TRITON_INTERPRET": "1"}
        return subprocess.run([sys.executable, "-m", "suite", *sys.argv[1:]] if sys.argv[1:2] == ["doctor"]
                              else [sys.executable, "-m", "suite", "doctor", "--gpu", "--rehearse", "--out", args.out,
                                    *sum((["--section", s] for s in args.section or []), [])],
                              env=env).returncode
    import torch

    if not args.rehearse and not torch.cuda.is_available():  # before the kernels' imports print their notes
        raise SuiteError("doctor --gpu needs a CUDA GPU and none is visible (torch.cuda.is_available() is False); "
                         "use --rehearse to run every section on the CPU under Triton's interpreter.")
    from rich.console import Console

    from suite.bench import gpu_check

    err = Console(stderr=True)
    report = gpu_check.run(Path(args.out), rehearse=args.rehearse, sections=args.section,
                           progress=lambda what: err.print(what, markup=False, style="dim"))
    failed = [name for name, entry in report["sections"].items() if "error" in entry]
    print(f"wrote {args.out}/gpu-check.json and {args.out}/README.md"
          + (f"; sections that failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0
