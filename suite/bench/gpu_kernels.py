"""The GPU check's kernel section: each learnable activation's Triton kernel, timed.

For every activation with a Triton kernel, in float32 and bfloat16 at a ResNet stage's
activation size, the forward, backward and forward+backward are timed in alternation with
a copy moving the same bytes (the harness of ``python -m suite bench``); the copy's time
over the kernel's is the fraction of the copy's bandwidth the kernel reaches (target:
70 %). Beside it, in the same run: the plain-PyTorch formula (the unit's reference) and,
for Hermite, Fourier and Tropical, torchortho's unit.

``TritonUnit`` calls the kernel registered for CUDA directly: on a GPU that is exactly what
the unit's own forward dispatches to; in the CPU rehearsal (Triton's interpreter, CPU
tensors) it sends the tensors through the same Triton code, so the section is tested end
to end on machines without a GPU.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from suite.bench import harness, measure

# The list: every learnable activation with a Triton kernel, with the parameters
# its paper matrices train (per layer and, for PWLU, per channel at the stage's width).
KERNEL_ACTS = ("pwlu", "pwlu:channels=256", "hermite:degree=3", "hermite:degree=8", "fourier:degree=5",
               "tropical:degree=5", "tropical_rational:degree=5", "apalu", "pau", "swish_beta", "acon_c",
               "sqish", "meta_acon:channels=256")
TARGET_FRACTION = 0.7  # of the copy's bandwidth, forward and backward
TORCHORTHO = ("hermite", "fourier", "tropical")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class Timing:
    """Short interleaved timing: a few rounds, each a block of a few milliseconds per
    function, so a whole section fits a few minutes of GPU time."""

    rounds: int = 5
    block_s: float = 0.005
    budget_s: float = 0.3


class TritonUnit(nn.Module):
    """``unit`` with its forward through the kernel registered for CUDA (self-checked on
    first use against the unit's reference, as in training)."""

    def __init__(self, unit: nn.Module):
        super().__init__()
        from suite.activations.fused import _KERNELS

        self.unit = unit
        self.kernel = _KERNELS[(unit.kernel_name, "cuda")]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.kernel(self.unit, x)


def kernel_trusted(unit: nn.Module, device: torch.device) -> bool | None:
    """Whether the first-use self-check let the kernel run (False: the reference ran)."""
    from suite.activations.fused import selfcheck

    return selfcheck._TRUSTED.get((unit.kernel_name, str(device), getattr(unit, "channels", None) is not None))


def time_passes(module: nn.Module, work: harness.Workload, timing: Timing,
                passes=harness.PASSES) -> dict[str, dict]:
    """Per pass: the subject's median time and its ratio to the copy's in the same rounds."""
    subject, copy = harness.pass_functions(module, work), harness.copy_functions(work)
    out = {}
    for name in passes:
        timed = measure.time_interleaved({"subject": subject[name], "copy": copy[name]}, work.device, quick=True,
                                         rounds=timing.rounds, block_s=timing.block_s, budget_s=timing.budget_s)
        ratio = timed.ratio("subject", "copy").median_s
        out[name] = {"time_s": timed.timing("subject").median_s, "copy_s": timed.timing("copy").median_s,
                     "ratio_to_copy": ratio, "bandwidth_fraction": 1.0 / ratio if ratio > 0 else None}
    return out


def _build(text: str, impl: str, work: harness.Workload) -> tuple[nn.Module, object]:
    from suite.bench.run import with_channels
    from suite.bench.subjects import ActSpec, build, parse_act

    spec = parse_act(text)
    if "channels" in spec.params:  # per channel at the input's width (the rehearsal's is smaller)
        spec = ActSpec(spec.name, {**spec.params, "channels": work.shape[1]})
    spec = with_channels(spec, work.shape)
    return build(spec, impl, work.device, work.dtype).module, spec


def run(shape: tuple[int, ...], device: torch.device, timing: Timing = Timing(), acts=KERNEL_ACTS,
        dtypes=tuple(DTYPES), progress=print) -> list[dict]:
    """One row per (activation, dtype): the kernel's passes, the reference's and
    torchortho's forward+backward, all as ratios to the same copy."""
    from suite.bench import peers

    rows = []
    for dtype_name in dtypes:
        work = harness.Workload(tuple(shape), device, DTYPES[dtype_name], quick=True)
        for text in acts:
            progress(f"kernel {text} {dtype_name}")
            row = {"activation": text, "dtype": dtype_name, "shape": list(shape)}
            try:
                reference, spec = _build(text, "reference", work)
                unit = TritonUnit(reference)
                row["kernel"] = time_passes(unit, work, timing)
                row["kernel_trusted"] = kernel_trusted(reference, device)
                row["reference"] = time_passes(reference, work, timing, passes=("fwdbwd",))["fwdbwd"]
                if spec.name in TORCHORTHO:
                    peer = peers.PEERS[spec.name]["torchortho"](spec).to(device=device, dtype=work.dtype)
                    row["torchortho"] = time_passes(peer, work, timing, passes=("fwdbwd",))["fwdbwd"]
                fractions = [row["kernel"][p]["bandwidth_fraction"] for p in ("fwd", "bwd")]
                row["meets_target"] = bool(row["kernel_trusted"] is not False
                                           and all(f is not None and f >= TARGET_FRACTION for f in fractions))
            except Exception as exc:  # noqa: BLE001 - one bad kernel must not lose the others' rows
                row["error"] = f"{type(exc).__name__}: {exc}"
            rows.append(row)
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return rows
