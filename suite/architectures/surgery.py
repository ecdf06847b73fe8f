"""Swap the activations of any ``nn.Module`` for another activation.

``replace_activations(model, factory, policy, example_inputs)`` finds every hidden
activation module (``nn.ReLU``, ``nn.SiLU``, ``nn.GELU``, ``nn.Hardswish``, timm's
activation classes, the suite's own activations, ...) and puts ``factory(site)`` in its
place. Three things make this harder than a loop over ``named_modules``:

* Shared modules. torchvision's ``BasicBlock`` calls its one ``self.relu`` twice per
  forward (``Bottleneck`` three times). For a parameter-free ReLU that is harmless, but
  a learnable activation's parameters belong to one place in the network: sharing them
  between call sites silently changes the model being benchmarked. A sample forward pass
  counts how often each activation runs per call of the module that owns it; a module
  its owner calls k > 1 times becomes a ``PerCallSite`` holding k activations, picked in
  call order (the owner's forward pre-hook resets the counter). Counting per call of the
  *owner*, not per forward of the model, keeps legitimately repeated calls intact: a
  detection head applied to five FPN levels calls its activations five times per
  forward, but once per call of the head's conv block, so it keeps one activation, as
  its shared weights intend. A rewrite of the owner's forward with torch.fx was the
  alternative; it fails on the many blocks that fx cannot trace (timm's assertions,
  torchvision's detection code), while hooks work on every module.
* Gates are not hidden activations. Sigmoid / hard-sigmoid gates of squeeze-excite and
  attention blocks, and softmax, are left alone (``Policy``), as are modules whose path
  matches a user pattern.
* Functional activations (``F.relu(x)`` inside a forward) cannot be replaced by module
  surgery. They are found with a torch.fx scan where the code is traceable and listed
  in the report, so a user knows the swap was incomplete.

The factory receives a ``Site``: the path, the old module, the call-site index, and the
input shape and channel count seen in the sample forward (per-channel activations need
the width).
"""
from __future__ import annotations

import fnmatch
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

try:  # timm's activation classes (timm is a dependency, but keep surgery importable alone)
    from timm.layers import activations as _timm_act
    from timm.layers import activations_me as _timm_act_me
except ImportError:  # pragma: no cover
    _timm_act = _timm_act_me = None


def _timm_classes(*names: str) -> tuple[type, ...]:
    found = []
    for module in (_timm_act, _timm_act_me):
        for name in names:
            cls = getattr(module, name, None) if module is not None else None
            if isinstance(cls, type):
                found.append(cls)
    return tuple(found)


def _suite_activation_base() -> tuple[type, ...]:
    from suite.activations.base import Activation

    return (Activation,)


# Hidden activations: what surgery replaces.
HIDDEN_ACTIVATIONS: tuple[type, ...] = (
    nn.ReLU, nn.ReLU6, nn.SiLU, nn.GELU, nn.Hardswish, nn.Mish, nn.ELU, nn.CELU,
    nn.SELU, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.Softplus, nn.Hardtanh,
) + _timm_classes(
    "GELU", "GELUTanh", "QuickGELU", "HardMish", "HardSwish", "Mish", "PReLU", "Swish",
    "HardMishMe", "HardSwishMe", "MishMe", "SwishMe",
)
# Gates: squash to (0, 1) (or a distribution) and multiply or weigh something else; never
# replaced, whatever their path.
GATE_ACTIVATIONS: tuple[type, ...] = (
    nn.Sigmoid, nn.Hardsigmoid, nn.Tanh, nn.Softmax, nn.LogSoftmax, nn.Softmax2d,
) + _timm_classes("Sigmoid", "HardSigmoid", "HardSigmoidMe", "Tanh")

# Functions that are hidden activations when called inside a forward (reported only).
FUNCTIONAL_ACTIVATIONS: dict[Any, str] = {
    F.relu: "F.relu", F.relu6: "F.relu6", F.gelu: "F.gelu", F.silu: "F.silu",
    F.hardswish: "F.hardswish", F.mish: "F.mish", F.elu: "F.elu", F.selu: "F.selu",
    F.celu: "F.celu", F.leaky_relu: "F.leaky_relu", F.softplus: "F.softplus",
    F.prelu: "F.prelu", F.hardtanh: "F.hardtanh", torch.relu: "torch.relu",
    torch.relu_: "torch.relu_", F.relu_: "F.relu_",
}
FUNCTIONAL_METHODS = {"relu": "Tensor.relu", "relu_": "Tensor.relu_"}


@dataclass(frozen=True)
class Policy:
    """What surgery replaces.

    replace: module classes that are hidden activations (subclasses included); the
        suite's own ``Activation`` base class is always added.
    gates: classes never replaced (sigmoid / hard-sigmoid / tanh gates, softmax).
    gate_names: attribute names of gates whatever their class (timm's SqueezeExcite
        ``gate``, torchvision's ``scale_activation``), so a gate built from a hidden
        activation class is still left alone.
    skip: fnmatch patterns on module paths (``"head.*"``, ``"*.se.*"``) left alone.
    """

    replace: tuple[type, ...] = HIDDEN_ACTIVATIONS
    gates: tuple[type, ...] = GATE_ACTIVATIONS
    gate_names: tuple[str, ...] = ("gate", "scale_activation", "gate_fn", "gate_act")
    skip: tuple[str, ...] = ()

    def with_skip(self, *patterns: str) -> "Policy":
        return Policy(self.replace, self.gates, self.gate_names, self.skip + tuple(patterns))

    def decide(self, path: str, module: nn.Module) -> str | None:
        """'replace', a reason to keep it ('gate', 'skipped by pattern ...'), or None (not an activation)."""
        is_hidden = isinstance(module, self.replace + _suite_activation_base())
        is_gate = isinstance(module, self.gates)
        if not (is_hidden or is_gate):
            return None
        if is_gate or path.rsplit(".", 1)[-1] in self.gate_names:
            return "gate"
        for pattern in self.skip:
            if fnmatch.fnmatchcase(path, pattern):
                return f"skipped by pattern {pattern!r}"
        return "replace"

    def is_activation(self, module: nn.Module) -> bool:
        return isinstance(module, self.replace + self.gates + _suite_activation_base() + (PerCallSite,))


DEFAULT_POLICY = Policy()


@dataclass(frozen=True)
class Site:
    """One place in the network where an activation runs; what a factory is given."""

    path: str  # dotted module path of the old module
    old: nn.Module
    call: int = 0  # index of this call site among the old module's call sites
    calls: int = 1  # number of call sites of the old module (per call of its owner)
    input_shape: tuple[int, ...] | None = None  # shape seen there in the sample forward
    channels: int | None = None  # feature width there (None when not traced)
    channel_dim: int | None = None  # where the width sits in input_shape (1 or -1)


Factory = Callable[[Site], nn.Module]


class PerCallSite(nn.Module):
    """Gives each call site of a shared activation module its own activation.

    The owner calls this module k times per forward; call i runs ``sites[i]``. The owner's
    forward pre-hook resets the counter, so the dispatch follows the owner's code order
    and stays right when the owner itself is called many times. Parameters of call site i
    are ``<path>.sites.<i>.*`` in the state dict.
    """

    def __init__(self, sites: Sequence[nn.Module], owner: nn.Module):
        super().__init__()
        self.sites = nn.ModuleList(sites)
        self._next = 0
        owner.register_forward_pre_hook(self._reset)

    def _reset(self, module: nn.Module, args: Any) -> None:
        self._next = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        i = self._next
        if i >= len(self.sites):
            raise RuntimeError(
                f"PerCallSite was called {i + 1} times in one call of its owner, but surgery "
                f"traced {len(self.sites)} call sites; the owner's control flow differs from "
                "the traced forward."
            )
        self._next = i + 1
        return self.sites[i](x)

    def extra_repr(self) -> str:
        return f"call_sites={len(self.sites)}"


@dataclass(frozen=True)
class Replacement:
    path: str
    old_type: str
    new_type: str
    call_sites: int
    params: int  # parameters of the new module(s) at this path, all call sites together


@dataclass
class SurgeryReport:
    replaced: list[Replacement] = field(default_factory=list)
    kept: list[tuple[str, str, str]] = field(default_factory=list)  # (path, type, reason)
    functional: list[tuple[str, str]] = field(default_factory=list)  # (module path, function)
    unscanned: list[str] = field(default_factory=list)  # module paths fx could not trace
    traced: bool = False  # whether call sites were counted with a sample forward
    notes: list[str] = field(default_factory=list)

    @property
    def sites(self) -> int:
        """Number of activations inserted (one per call site)."""
        return sum(r.call_sites for r in self.replaced)

    @property
    def params(self) -> int:
        return sum(r.params for r in self.replaced)

    def counts(self) -> dict[str, int]:
        """Replaced call sites per old type, e.g. {'ReLU': 17}."""
        counts: Counter[str] = Counter()
        for r in self.replaced:
            counts[r.old_type] += r.call_sites
        return dict(counts)

    def __str__(self) -> str:
        new = sorted({r.new_type for r in self.replaced})
        lines = [
            f"replaced {len(self.replaced)} modules at {self.sites} call sites "
            f"({', '.join(f'{n} {t}' for t, n in sorted(self.counts().items()))}) "
            f"with {', '.join(new) or 'nothing'}; {self.params} activation parameters"
            + ("" if self.traced else "; call sites not traced (no example input): shared modules not split"),
        ]
        shared = [r for r in self.replaced if r.call_sites > 1]
        if shared:
            lines.append("split shared modules: " + ", ".join(f"{r.path} (x{r.call_sites})" for r in shared))
        if self.kept:
            kinds = Counter(reason for _, _, reason in self.kept)
            lines.append("kept: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
        if self.functional:
            lines.append(
                "functional activations NOT replaced: "
                + ", ".join(f"{fn} in {path or '<root>'}" for path, fn in self.functional)
            )
        if self.unscanned:
            lines.append(f"not scanned for functional activations (fx could not trace): {', '.join(self.unscanned)}")
        lines.extend(self.notes)
        return "\n".join(lines)


def _count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


_WIDTH_ATTRS = ("out_channels", "out_features", "num_features", "num_channels", "normalized_shape")


def _width(module: nn.Module) -> int | None:
    for attr in _WIDTH_ATTRS:
        value = getattr(module, attr, None)
        if isinstance(value, int):
            return value
        if isinstance(value, (tuple, list)) and value and isinstance(value[-1], int):
            return value[-1]
    return None


@dataclass
class _Trace:
    calls: Counter = field(default_factory=Counter)  # id(module) -> number of calls
    shapes: dict = field(default_factory=lambda: defaultdict(list))  # id -> [shape per call]
    widths: dict = field(default_factory=lambda: defaultdict(list))  # id -> [width per call]


def _trace(model: nn.Module, example_inputs: tuple, policy: Policy) -> _Trace:
    """Run one forward, counting calls of every module and recording activation inputs."""
    trace = _Trace()
    last_width: list[int | None] = [None]  # width of the most recent layer with one
    handles = []

    def count(module, args):
        trace.calls[id(module)] += 1

    def record_activation(module, args):
        x = args[0] if args else None
        if isinstance(x, torch.Tensor):
            trace.shapes[id(module)].append(tuple(x.shape))
            trace.widths[id(module)].append(last_width[0])

    def remember_width(module, args, output):
        width = _width(module)
        if width is not None:
            last_width[0] = width

    for module in model.modules():
        handles.append(module.register_forward_pre_hook(count))
        if policy.is_activation(module):
            handles.append(module.register_forward_pre_hook(record_activation))
        elif _width(module) is not None:
            handles.append(module.register_forward_hook(remember_width))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(*example_inputs)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return trace


def _channels(shape: tuple[int, ...] | None, width: int | None) -> tuple[int | None, int | None]:
    """(channels, channel_dim) at a site: the preceding layer's width where it matches."""
    if not shape or len(shape) < 2:
        return None, None
    if width is not None:
        if shape[1] == width:
            return width, 1
        if shape[-1] == width:
            return width, -1
    # No matching layer before it: NCHW convention for images, last dim for sequences.
    return (shape[1], 1) if len(shape) in (2, 4, 5) else (shape[-1], -1)


def _set_child(model: nn.Module, path: str, new: nn.Module) -> nn.Module:
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, name, new)
    return parent


def replace_activations(
    model: nn.Module,
    factory: Factory,
    policy: Policy = DEFAULT_POLICY,
    example_inputs: tuple | None = None,
    *,
    scan_functional: bool = True,
) -> SurgeryReport:
    """Replace every hidden activation module of ``model`` in place by ``factory(site)``.

    example_inputs: arguments of one sample forward (``model(*example_inputs)``), used to
    count call sites (shared modules get one activation per call site) and to give the
    factory the input shape and width. Without it every module is one call site.
    Returns a ``SurgeryReport``; the model is changed in place.
    """
    report = SurgeryReport(traced=example_inputs is not None)
    trace = _trace(model, tuple(example_inputs), policy) if example_inputs is not None else None

    # Decide on the current module tree first, then mutate.
    plan = []
    for path, module in model.named_modules(remove_duplicate=False):
        if not path or isinstance(module, PerCallSite):
            continue
        decision = policy.decide(path, module)
        if decision is None:
            continue
        if decision != "replace":
            report.kept.append((path, type(module).__name__, decision))
            continue
        if any(path.startswith(p + ".") for p, _ in plan):
            continue  # inside an activation already being replaced
        plan.append((path, module))

    aliases = Counter(id(m) for _, m in plan)
    for path, old in plan:
        parent_path = path.rpartition(".")[0]
        owner = model.get_submodule(parent_path) if parent_path else model
        calls, shapes, widths = 1, [None], [None]
        if trace is not None:
            own, per_owner = trace.calls[id(old)], trace.calls[id(owner)]
            shapes = trace.shapes.get(id(old)) or [None]
            widths = trace.widths.get(id(old)) or [None]
            if aliases[id(old)] > 1:
                report.notes.append(f"note: {path} is registered under {aliases[id(old)]} names; each gets one activation")
            elif own and per_owner and own % per_owner == 0 and own > per_owner:
                calls = own // per_owner
            elif own and per_owner and own % per_owner:
                report.notes.append(
                    f"note: {path} ran {own} times in {per_owner} calls of its owner (called from "
                    "elsewhere?); it keeps one activation shared by its calls"
                )
        new_modules = []
        for i in range(calls):
            shape = shapes[i] if i < len(shapes) else shapes[0]
            width = widths[i] if i < len(widths) else widths[0]
            channels, channel_dim = _channels(shape, width)
            site = Site(path, old, i, calls, shape, channels, channel_dim)
            new_modules.append(factory(site))
        new = new_modules[0] if calls == 1 else PerCallSite(new_modules, owner)
        _set_child(model, path, new)
        report.replaced.append(
            Replacement(path, type(old).__name__, type(new_modules[0]).__name__, calls, _count_params(new))
        )

    if scan_functional:
        inserted = {id(m) for path, _ in plan for m in model.get_submodule(path).modules()}
        report.functional, report.unscanned = find_functional_activations(model, policy, inserted)
    return report


class _LeafActivationTracer(torch.fx.Tracer):
    """fx tracer that keeps activation modules opaque: only functional calls show up."""

    def __init__(self, policy: Policy, leaves: set[int]):
        super().__init__()
        self.policy = policy
        self.leaves = leaves

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return id(m) in self.leaves or self.policy.is_activation(m) or super().is_leaf_module(m, qualname)


def find_functional_activations(
    model: nn.Module, policy: Policy = DEFAULT_POLICY, leaves: set[int] = frozenset()
) -> tuple[list[tuple[str, str]], list[str]]:
    """Functional hidden activations in ``model``'s forward code, found by torch.fx.

    leaves: ids of modules not to look into (the activations surgery just inserted).
    Returns (found, unscanned): ``found`` lists (module path, function name); where fx
    cannot trace a module its children are tried, and leaf modules fx could not trace
    at all are listed in ``unscanned``.
    """
    found: list[tuple[str, str]] = []
    unscanned: list[str] = []

    def scan(path: str, module: nn.Module) -> None:
        if policy.is_activation(module) or id(module) in leaves:
            return
        tracer = _LeafActivationTracer(policy, leaves)
        try:
            graph = tracer.trace(module)
        except Exception:  # fx cannot trace this module's Python: try its children
            children = list(module.named_children())
            if not children:
                unscanned.append(path or "<root>")
            for name, child in children:
                scan(f"{path}.{name}" if path else name, child)
            return
        for node in graph.nodes:
            name = None
            if node.op == "call_function":
                name = FUNCTIONAL_ACTIVATIONS.get(node.target)
            elif node.op == "call_method":
                name = FUNCTIONAL_METHODS.get(node.target)
            if name is None:
                continue
            stack = node.meta.get("nn_module_stack") or {}
            where = list(stack)[-1] if stack else ""
            where = where if isinstance(where, str) else ""
            full = ".".join(p for p in (path, where) if p)
            found.append((full, name))

    scan("", model)
    return found, unscanned
