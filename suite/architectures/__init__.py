"""The architecture registry: every network the suite trains, by name.

``create(name, act="pwlu")`` builds the network with its usual activations and then
replaces every hidden activation by ``suite.activations.create(act, **act_params)``
through ``surgery.replace_activations``. One mechanism serves every family (timm,
torchvision, the GPT and detectors here): activations a model builds outside its
``act_layer`` (MobileNetV3's ReLU blocks, squeeze-excite reductions) are caught too,
shared modules get one activation per call site, and per-channel activations get the
width seen at their site. Gates (squeeze-excite sigmoids) and the attention softmax are
never replaced (``surgery.DEFAULT_POLICY``).

Family modules register their builders on import with ``register_architecture``. A
builder returns the model with its stock activations; the entry's ``sample`` gives a
small input for the one forward pass that surgery traces.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
from typing import Any, Callable, ContextManager

import torch
from torch import nn

from suite.architectures.surgery import (
    DEFAULT_POLICY,
    PerCallSite,
    Policy,
    Site,
    SurgeryReport,
    replace_activations,
)
from suite.errors import SuiteError, bad_value
from suite.registry import Registry

ARCHITECTURES = Registry("architecture")
TASKS = ("classification", "lm", "detection")
SCALES = ("embedded", "paper")

# sample(model) -> context manager yielding the positional inputs of one small forward.
Sample = Callable[[nn.Module], ContextManager[tuple]]


def register_architecture(
    name: str,
    *,
    task: str,
    scale: str,
    description: str,
    input_size: tuple[int, ...],
    sample: Sample,
    aliases: tuple[str, ...] = (),
    **info: Any,
):
    """Register a builder ``fn(num_classes=None, **kw) -> nn.Module`` (stock activations).

    task: "classification" | "lm" | "detection"; scale: "embedded" (trains on a CPU with
    the embedded data sets) | "paper" (the papers' networks). input_size: the default
    input of one example, (C, H, W) for images, (block_size,) for language models.
    """
    if task not in TASKS or scale not in SCALES:
        raise ValueError(f"bad task/scale for architecture {name!r}: {task!r}, {scale!r}")
    return ARCHITECTURES.register(
        name, aliases=aliases, task=task, scale=scale, description=description,
        input_size=tuple(input_size), sample=sample, **info,
    )


def image_sample(size: int = 32) -> Sample:
    """Sample input for image models: one ``size`` x ``size`` image with the model's channels."""

    @contextlib.contextmanager
    def sample(model: nn.Module):
        channels = getattr(model, "in_chans", None) or _first_conv_channels(model)
        yield (torch.randn(1, channels, size, size, device=_device(model)),)

    return sample


def _first_conv_channels(model: nn.Module) -> int:
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module.in_channels
    return 3


def _device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def activation_factory(act: str, act_params: dict | None = None) -> Callable[[Site], nn.Module]:
    """A surgery factory building ``suite.activations.create(act, **act_params)`` per site.

    ``act_params={"per_channel": True}`` asks a per-channel activation for one parameter
    set per channel: the width seen at each site is passed as ``channels=``, and where
    the width is the last dimension (transformer MLPs, ConvNeXt's channels-last MLP) as
    ``channel_dim=-1``, which the activation must then accept.
    """
    from suite.activations import ACTIVATIONS

    entry = ACTIVATIONS.get(act)  # unknown names raise SuiteError with suggestions
    params = dict(act_params or {})
    # Activations that exist only per channel (Meta-ACON) always get the traced width.
    per_channel = bool(params.pop("per_channel", False)) or bool(entry.info.get("needs_channels"))
    if per_channel and not entry.info.get("per_channel"):
        raise SuiteError(
            f"activation {entry.name!r} has no per-channel variant; per_channel=True is accepted only for "
            f"{', '.join(e.name for e in ACTIVATIONS if e.info.get('per_channel')) or 'none'}."
        )
    takes_channel_dim = _accepts(entry.factory, "channel_dim")

    def factory(site: Site) -> nn.Module:
        kwargs = dict(params)
        if per_channel:
            if site.channels is None:
                raise SuiteError(f"per_channel=True needs a traced width at {site.path!r}; none was seen.")
            kwargs["channels"] = site.channels
            if takes_channel_dim:
                kwargs["channel_dim"] = site.channel_dim
            elif site.channel_dim != 1:
                raise SuiteError(
                    f"per_channel=True is not accepted for {entry.name!r} at {site.path!r}, whose channels are "
                    f"the last dimension of {site.input_shape}; {entry.name!r} handles channels in dimension 1 only."
                )
        return entry.factory(**kwargs)

    return factory


def _accepts(fn: Callable, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def create(
    name: str,
    *,
    act: str = "relu",
    act_params: dict | None = None,
    num_classes: int | None = None,
    policy: Policy = DEFAULT_POLICY,
    return_report: bool = False,
    **kw: Any,
) -> nn.Module | tuple[nn.Module, SurgeryReport]:
    """Build architecture ``name`` with every hidden activation replaced by ``act``.

    num_classes: output classes (classification, detection; None keeps the entry's
    default); kw: passed to the builder (e.g. ``in_chans``, ``vocab_size``,
    ``block_size``, ``mlp``). With ``return_report=True`` returns (model, SurgeryReport).
    """
    entry = ARCHITECTURES.get(name)
    adjust = entry.info.get("adjust_act")
    if adjust is not None:  # e.g. GPT's mlp="swiglu" fixes the gate activation
        act = adjust(act, kw)
    factory = activation_factory(act, act_params)
    model = entry.factory(num_classes=num_classes, **kw)
    with entry.info["sample"](model) as inputs:
        report = replace_activations(model, factory, policy, inputs)
    model.surgery_report = report  # plain attribute: kept for records and `print(model.surgery_report)`
    return (model, report) if return_report else model


def build_stock(name: str, **kw: Any) -> nn.Module:
    """The architecture with its own stock activations (no surgery), e.g. for comparison."""
    return ARCHITECTURES.get(name).factory(**kw)


@functools.lru_cache(maxsize=None)
def parameter_count(name: str) -> int:
    """Parameters of the default model (parameter-free activations), built on the meta device."""
    with torch.device("meta"):
        model = ARCHITECTURES.get(name).factory(num_classes=None)
    return sum(p.numel() for p in model.parameters())


def catalog_rows() -> list[dict]:
    """Rows for ``python -m suite list architectures``."""
    rows = []
    for entry in ARCHITECTURES:
        info = entry.info
        rows.append({
            "name": entry.name,
            "task": info["task"],
            "scale": info["scale"],
            "params": f"{parameter_count(entry.name) / 1e6:.2f}M",
            "input": "x".join(str(d) for d in info["input_size"]),
            "aliases": ", ".join(entry.aliases),
            "description": info["description"],
        })
    return rows


def names(task: str | None = None, scale: str | None = None) -> list[str]:
    """Registered names, optionally only those of one task and/or scale."""
    if task is not None and task not in TASKS:
        raise bad_value("task", task, f"one of {', '.join(TASKS)}")
    if scale is not None and scale not in SCALES:
        raise bad_value("scale", scale, f"one of {', '.join(SCALES)}")
    return [
        e.name for e in ARCHITECTURES
        if (task is None or e.info["task"] == task) and (scale is None or e.info["scale"] == scale)
    ]


__all__ = [
    "ARCHITECTURES", "PerCallSite", "Policy", "DEFAULT_POLICY", "Site", "SurgeryReport",
    "activation_factory", "build_stock", "catalog_rows", "create", "names",
    "parameter_count", "register_architecture", "replace_activations",
]

# Family modules register themselves on import; order is the order of `suite list`.
from suite.architectures import small, timm_models, torchvision_models, gpt, detection, centernet  # noqa: E402,F401
from suite.architectures import cifar_preresnet, cifar_wrn, cifar_densenet  # noqa: E402,F401
