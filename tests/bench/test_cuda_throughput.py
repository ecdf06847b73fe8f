"""The CUDA target of the kernel benchmarks: each Triton kernel moves its bytes at no less
than 70 % of the speed of a copy moving the same bytes, forward and backward, in float32
and bfloat16 (opt in, needs a GPU: python -m pytest -m cuda_bench tests/bench).

Timed as ``python -m suite doctor --gpu`` times them (``suite.bench.gpu_kernels``: subject
and copy in alternation, the ratio the median of per-round ratios), at a ResNet stage's
activation size, so this test and the GPU check's kernel table agree.
"""
import pytest
import torch

from suite.bench import gpu_kernels, harness
from suite.bench.run import with_channels
from suite.bench.subjects import build, parse_act

pytestmark = [pytest.mark.cuda_bench,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (Triton kernels)")]

SHAPE = (64, 256, 56, 56)
TARGET = 1 / 0.7  # time / the copy's time, at 70 % of its bandwidth
# Meta-ACON is left out: its switch pools x before the gate can run, a second read of x
# in the forward, so 2/3 of the copy's bandwidth is its ceiling there.
ACTS = ["pwlu", "pwlu:channels=256", "hermite:degree=3", "hermite:degree=8", "fourier:degree=5",
        "tropical:degree=5", "tropical_rational:degree=5", "apalu", "pau", "swish_beta", "acon_c", "sqish"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("act", ACTS)
def test_triton_kernel_reaches_70_percent_of_copy_bandwidth(act, dtype):
    work = harness.Workload(SHAPE, torch.device("cuda"), dtype)
    subject = build(with_channels(parse_act(act), SHAPE), "fused", work.device, work.dtype)
    timed = gpu_kernels.time_passes(subject.module, work, gpu_kernels.Timing(), passes=("fwd", "bwd"))
    ratios = {name: timed[name]["ratio_to_copy"] for name in ("fwd", "bwd")}
    assert all(r <= TARGET for r in ratios.values()), f"{act} {dtype}: time / copy's = {ratios} (target <= {TARGET:.2f})"
