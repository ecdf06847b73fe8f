"""What a trained model's learnable activations look like, for the learned-shape plots.

Every learnable suite activation (an ``Activation`` with parameters) is evaluated, in eval
mode and without gradients, on a fixed grid of 161 points in [-4, 4]. Per-channel modules
are fed the grid in every channel; the record keeps the mean over channels and the first
few channels.
"""
from __future__ import annotations

import torch
from torch import nn

GRID = torch.linspace(-4.0, 4.0, 161)
FIRST_CHANNELS = 4


def _channels(module: nn.Module) -> int | None:
    c = getattr(module, "channels", None)
    return int(c) if isinstance(c, int) and c > 1 else None


def _evaluate(module: nn.Module, grid: torch.Tensor) -> torch.Tensor | None:
    """(points, channels) values, trying the input layouts activations accept."""
    p = grid.numel()
    c = _channels(module)
    if c is None:
        layouts = [grid, grid.view(p, 1), grid.view(1, 1, p, 1)]
    else:
        layouts = [grid.view(p, 1).expand(p, c), grid.view(p, 1, 1, 1).expand(p, c, 1, 1),
                   grid.view(1, p, 1).expand(1, p, c)]
    for x in layouts:
        try:
            y = module(x.contiguous())
        except Exception:  # noqa: BLE001  (a layout this module does not take: try the next)
            continue
        if y.shape != x.shape:
            continue
        if c is None:
            return y.reshape(p, 1)
        return y.reshape(p, c) if x.shape[0] == p else y.reshape(p, c)
    return None


@torch.no_grad()
def activation_shapes(model: nn.Module, decimals: int = 5) -> dict[str, dict]:
    from suite.activations.base import Activation

    out = {}
    for name, module in model.named_modules():
        if not isinstance(module, Activation) or not any(True for _ in module.parameters()):
            continue
        param = next(module.parameters())
        grid = GRID.to(device=param.device, dtype=param.dtype)
        was_training = module.training
        module.eval()
        try:
            y = _evaluate(module, grid)
        finally:
            module.train(was_training)
        if y is None:
            continue
        y = y.float().cpu()
        out[name or type(module).__name__] = {
            "x": [round(v, decimals) for v in GRID.tolist()],
            "y": [round(v, decimals) for v in y.mean(dim=1).tolist()],
            "channels": [[round(v, decimals) for v in y[:, k].tolist()] for k in range(min(FIRST_CHANNELS, y.shape[1]))]
            if y.shape[1] > 1 else [],
            "kind": type(module).__name__,
        }
    return out


def parameter_counts(model: nn.Module) -> dict[str, int]:
    from suite.activations.base import Activation

    total = sum(p.numel() for p in model.parameters())
    act = sum(p.numel() for m in model.modules() if isinstance(m, Activation) for p in m.parameters(recurse=False))
    return {"total": int(total), "activation": int(act)}
