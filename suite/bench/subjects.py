"""What gets benchmarked: an activation spec (``name[:key=value,...]``) and its impls.

A subject is a built module plus a label saying which implementation it really runs
("reference", "fused", or a peer's name), so a record never claims a fused timing for a
module that fell back to its reference math.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

import suite.activations as A
from suite import actspec
from suite.activations import fused
from suite.errors import SuiteError, bad_value

IMPL_CHOICES = ("auto", "reference", "fused", "all")
DEFAULT_DEGREE = 3  # for activations registered with needs_degree (hermite, fourier, ...)


@dataclass(frozen=True)
class ActSpec:
    name: str
    params: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        if not self.params:
            return self.name
        return self.name + ":" + ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))


def parse_act(text: str) -> ActSpec:
    """``hermite:degree=8`` -> ActSpec("hermite", {"degree": 8}); degree defaults to 3."""
    name, params = actspec.parse(text)
    entry = A.ACTIVATIONS.get(name)  # SuiteError with close names if unknown
    if entry.info.get("needs_degree"):
        params.setdefault("degree", DEFAULT_DEGREE)
    return ActSpec(entry.name, params)


@dataclass
class Subject:
    spec: ActSpec
    impl: str  # what really runs: "reference", "fused" or "peer:<name>"
    module: torch.nn.Module


def resolve_impls(spec: ActSpec, requested: str, sample: torch.Tensor) -> list[str]:
    """The concrete impls to run for ``requested`` ("all": reference and, if any, fused).

    "fused" only where a kernel handles this very input (device, dtype, sizes): bf16 PWLU
    on the CPU, say, runs its reference and is labelled so."""
    if requested not in IMPL_CHOICES:
        raise bad_value("impl", requested, ", ".join(IMPL_CHOICES))
    module = A.create(spec.name, **spec.params).to(sample.device)
    kernel_name = getattr(module, "kernel_name", None)
    has_fused = kernel_name is not None and fused.lookup(kernel_name, sample, module=module) is not None
    if requested == "auto":
        return ["fused" if has_fused else "reference"]
    if requested == "fused" and not has_fused:
        raise SuiteError(
            f"activation {spec.name!r} has no fused kernel for {sample.device.type} {str(sample.dtype).removeprefix('torch.')} "
            "inputs; "
            "use --impl auto, reference or all."
        )
    if requested == "all":
        return ["reference", "fused"] if has_fused else ["reference"]
    return [requested]


def build(spec: ActSpec, impl: str, device: torch.device, dtype: torch.dtype) -> Subject:
    module = A.create(spec.name, **spec.params, impl=impl) if _takes_impl(spec) else A.create(spec.name, **spec.params)
    return Subject(spec, impl, module.to(device=device, dtype=dtype))


def _takes_impl(spec: ActSpec) -> bool:
    import inspect

    return "impl" in inspect.signature(A.ACTIVATIONS.get(spec.name).factory).parameters
