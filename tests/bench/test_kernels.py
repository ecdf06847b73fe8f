"""pytest-benchmark over the suite.bench harness (opt in: python -m pytest -m bench tests/bench).

Each benchmark times one pass of one activation and implementation on the CPU; the
workload and pass closures are the ones ``python -m suite bench`` uses, so the figures
agree with its table. Compare implementations with ``--benchmark-group-by=param:act``.
"""
import pytest
import torch

from suite.bench import harness
from suite.bench.subjects import build, parse_act

pytestmark = pytest.mark.bench

SHAPE = (32, 100, 100)
# (activation, impl): fused and reference side by side for the learnable ones
SUBJECTS = [("relu", "reference"), ("pwlu", "fused"), ("pwlu", "reference"),
            ("hermite:degree=3", "fused"), ("hermite:degree=3", "reference"),
            ("hermite:degree=8", "fused"), ("hermite:degree=8", "reference")]


@pytest.fixture(scope="module")
def work():
    return harness.Workload(SHAPE, torch.device("cpu"), torch.float32)


@pytest.mark.parametrize("pass_name", harness.PASSES)
@pytest.mark.parametrize("act,impl", SUBJECTS)
def test_activation(benchmark, work, act, impl, pass_name):
    subject = build(parse_act(act), impl, work.device, work.dtype)
    fn = harness.pass_functions(subject.module, work)[pass_name]
    for _ in range(3):  # warm-up, includes torch.compile
        fn()
    benchmark.group = f"{pass_name} {act}"
    benchmark.extra_info.update(act=act, impl=impl, bytes=work.bytes_moved(pass_name))
    benchmark(fn)
    assert benchmark.stats.stats.median > 0


@pytest.mark.parametrize("pass_name", harness.PASSES)
def test_copy_reference(benchmark, work, pass_name):
    fn = harness.copy_functions(work)[pass_name]
    benchmark.group = f"{pass_name} copy"
    benchmark.extra_info.update(act="copy", bytes=work.bytes_moved(pass_name))
    benchmark(fn)
    assert benchmark.stats.stats.median > 0
