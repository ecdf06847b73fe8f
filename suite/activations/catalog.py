"""Rows for ``python -m suite list activations``: every registered activation with its
family, learnable parameter count (per layer and, where it has both, per channel), source
paper, the source its definition follows and any deliberate deviation (``sources``).
Counts come from building the modules, never from typed-in numbers."""
from __future__ import annotations

from suite.activations import ACTIVATIONS

# Arguments needed to build an activation whose factory has no default for them.
DEFAULT_DEGREE = 3
PROBE_CHANNELS = 64


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def build_defaults(entry, **extra):
    params = dict(extra)
    if entry.info.get("needs_degree"):
        params.setdefault("degree", DEFAULT_DEGREE)
    return entry.factory(**params)


def parameter_counts(entry) -> tuple[str, str]:
    """(per layer, per channel) as display strings."""
    per_layer = "-" if entry.info.get("needs_channels") else str(_count(build_defaults(entry)))
    if not entry.info.get("per_channel"):
        return per_layer, "-"
    one = _count(build_defaults(entry, channels=PROBE_CHANNELS))
    two = _count(build_defaults(entry, channels=2 * PROBE_CHANNELS))
    per_channel = (two - one) / PROBE_CHANNELS  # slope: excludes any channel-free part
    fixed = one - per_channel * PROBE_CHANNELS
    text = f"{per_channel:g}/ch" + (f" + {fixed:g}" if fixed else "")
    return per_layer, text


def rows() -> list[dict]:
    out = []
    for entry in ACTIVATIONS:
        per_layer, per_channel = parameter_counts(entry)
        note = f" (degree={DEFAULT_DEGREE})" if entry.info.get("needs_degree") else ""
        out.append({
            "name": entry.name,
            "aliases": ", ".join(entry.aliases),
            "family": entry.info["family"],
            "learnable": "yes" if entry.info["learnable"] else "no",
            "params/layer": per_layer + note,
            "params/channel": per_channel,
            "paper": entry.info["paper"],
            "source": entry.info.get("source") or "unknown",
            "deviation": entry.info.get("deviation") or "-",
        })
    return out
