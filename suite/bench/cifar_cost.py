"""What one training cell of the CIFAR tier costs: ``python -m suite.bench.cifar_cost``.

For each network of the Swish paper's CIFAR tables (ResNet-164, WRN-28-10, DenseNet-BC
100-12) with ReLU it measures, on the machine at hand: parameters, forward FLOPs per
image (``torch.utils.flop_counter``), the bytes autograd saves for the backward per image
(the activation memory a GPU must hold, times the batch), and training steps per second
at a small batch (SGD step included, float32). A CPU cannot time a GPU run; the matrix's
per-cell time (``time_min`` in suite/matrix/matrices/paper-swish-cifar.toml) is the
estimate documented in docs/readme/matrix-launch.md, and every finished record carries
its measured ``wall_time_s`` to correct it.
"""
from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

NETWORKS = ("resnet164", "wrn28_10", "densenet100_12")


def forward_flops(model: torch.nn.Module) -> float:
    """FLOPs of one forward pass of one 3x32x32 image (a multiply-add counts 2)."""
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 3, 32, 32))
    return float(counter.get_total_flops())


def saved_bytes_per_image(model: torch.nn.Module, batch: int = 2) -> float:
    """Bytes of the tensors autograd keeps for the backward pass, per image (train mode)."""
    model.train()
    total = 0
    seen: set[int] = set()

    def pack(t: torch.Tensor):
        nonlocal total
        key = t.untyped_storage().data_ptr()
        if key not in seen and not isinstance(t, torch.nn.Parameter):  # weights are not activations
            seen.add(key)
            total += t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(torch.randn(batch, 3, 32, 32)).sum()
    return total / batch


def steps_per_second(model: torch.nn.Module, batch: int, steps: int) -> float:
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    step()  # warm-up: allocator, first-call dispatch
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - started)


def measure(name: str, batch: int = 8, steps: int = 3) -> dict:
    from suite.architectures import create

    torch.manual_seed(0)
    model = create(name, act="relu", num_classes=10)
    return {
        "network": name,
        "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
        "fwd_GFLOPs_per_image": forward_flops(model) / 1e9,
        "saved_MB_per_image": saved_bytes_per_image(model) / 2**20,
        f"cpu_steps_per_s_b{batch}": steps_per_second(model, batch, steps),
        "threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--network", action="append", choices=NETWORKS)
    args = parser.parse_args(argv)
    import pandas as pd

    rows = [measure(n, args.batch, args.steps) for n in args.network or NETWORKS]
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
