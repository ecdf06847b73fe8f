"""The CUDA (Triton) kernels equal their module's reference, value and gradient.

Without a GPU, Triton's interpreter (``TRITON_INTERPRET=1``) runs the same kernels on CPU
tensors, program by program; the variable must be set before triton is imported, hence
the subprocess. With a GPU the same comparison runs on CUDA in float32 and bfloat16.
Parameters are moved off their initial values first, so every gradient is exercised.
"""
import os
import subprocess
import sys
import textwrap

import pytest
import torch

import suite.activations as A
from suite.activations import fused
from test_fused import pair  # a reference unit off its initial parameters, and a fused twin

# (name, params, input shape): per layer and per channel, rows shorter than a block
# ([N, C] inputs), several programs per row, Meta-ACON's per-sample beta.
CASES = [
    ("pwlu", {}, (2, 3, 1500)),
    ("pwlu", {"channels": 3}, (2, 3, 1500)),
    ("hermite", {"degree": 3}, (3000,)),
    ("hermite", {"degree": 8}, (3000,)),
    ("swish_beta", {}, (2, 3, 1500)),
    ("swish_beta", {"channels": 3}, (2, 3, 40, 7)),
    ("swish_beta", {"channels": 3}, (5, 3)),
    ("acon_c", {"channels": 3}, (2, 3, 1500)),
    ("meta_acon", {"channels": 3, "reduction": 2}, (2, 3, 5, 7)),
    ("meta_acon", {"channels": 4, "reduction": 2}, (3, 4, 1100)),
    ("sqish", {}, (3000,)),
    ("sqish", {"channels": 3, "beta": 2.0}, (4, 3, 50)),
    ("apalu", {}, (3000,)),
    ("pau", {}, (3000,)),
    ("pau", {"version": "B"}, (3000,)),
    ("pau", {"numerator_degree": 3, "denominator_degree": 2}, (2100,)),
    ("fourier", {"degree": 1}, (1500,)),
    ("fourier", {"degree": 5}, (3000,)),
    ("tropical", {"degree": 1}, (1500,)),
    ("tropical", {"degree": 5}, (3000,)),
    ("tropical_rational", {"degree": 4}, (3000,)),
]

# What issue 6 asks a Triton kernel for (ACON as both of its units).
ISSUE_LIST = ("pwlu", "hermite", "fourier", "tropical", "apalu", "pau", "swish_beta", "acon_c", "meta_acon")


def assert_kernel_matches(ref, y, x, dy, params, tol):
    """y (a kernel's output for x) and its gradients equal the reference's, in float32."""
    xr = x.detach().float().requires_grad_()
    y_ref = ref(xr)
    torch.testing.assert_close(y.float(), y_ref, rtol=tol, atol=tol)
    g = torch.autograd.grad(y, [x, *params], dy)
    g_ref = torch.autograd.grad(y_ref, [xr, *ref.parameters()], dy.float())
    for (what, _), a, b in zip([("x", None), *ref.named_parameters()], g, g_ref):
        torch.testing.assert_close(a.float(), b, rtol=10 * tol, atol=10 * tol * (1 + b.abs().max().item()),
                                   msg=lambda m, what=what: f"gradient of {what}: {m}")


INTERPRETER_SCRIPT = textwrap.dedent("""
    import sys, torch
    sys.path.insert(0, {tests!r})
    from test_fused import pair
    from test_fused_triton import CASES, assert_kernel_matches
    from suite.activations.fused import cuda  # the kernels, registered for "cuda"
    from suite.activations.fused.cuda import TRITON_KERNELS

    RAW = {{**TRITON_KERNELS,
            "hermite": lambda m, x: cuda.HermiteTriton.apply(x, m.coefficients),
            "pwlu": lambda m, x: cuda.PWLUTriton.apply(x, m.heights, m.left_bound, m.right_bound, m.left_slope,
                                                       m.right_slope, m.channels is not None)}}
    for name, params, shape in CASES:
        # each case its own random stream: a unit that gains a parameter (PWLU's learned
        # bounds) must not change the inputs of the cases after it
        torch.manual_seed(0)
        ref, _ = pair(name, params)
        for dtype, tol in ((torch.float32, 1e-5), (torch.bfloat16, 2e-2)):
            x = (torch.randn(shape) * 2.5).to(dtype).requires_grad_()
            y = RAW[name](ref, x)
            assert y.dtype == dtype and y.shape == x.shape, (name, y.dtype, y.shape)
            assert_kernel_matches(ref, y, x, torch.randn_like(y), list(ref.parameters()), tol)
        empty = torch.zeros((0,) + tuple(shape[1:])).requires_grad_()
        ref.eval()  # Meta-ACON's switch BatchNorms cannot normalise an empty batch in training mode
        grads = torch.autograd.grad(RAW[name](ref, empty).sum(), [empty, *ref.parameters()], allow_unused=True)
        assert all(g is None or not g.abs().sum() for g in grads), name
        print(name, params, shape, "ok")
    print("all ok")
""")


def test_triton_kernels_match_reference_in_the_interpreter():
    pytest.importorskip("triton")
    script = INTERPRETER_SCRIPT.format(tests=os.path.dirname(__file__))
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and out.stdout.strip().endswith("all ok"), (out.stdout[-2000:], out.stderr[-3000:])
    assert out.stdout.count(") ok\n") == len(CASES)


def test_every_issue_activation_has_a_cuda_kernel_that_takes_half_and_float_only():
    pytest.importorskip("triton")
    from suite.activations.fused import triton_blocks

    missing = [name for name in ISSUE_LIST if (name, "cuda") not in fused._KERNELS]
    assert not missing, f"no Triton kernel for {missing}"
    for name in ("fourier", "pau", "swish_beta", "tropical_rational"):
        assert fused._SUPPORTS[(name, "cuda")] is triton_blocks.takes
    assert triton_blocks.takes(None, torch.zeros(1, dtype=torch.bfloat16)) is None
    assert "float64" in triton_blocks.takes(None, torch.zeros(1, dtype=torch.float64))


def test_triton_blocks_shrink_for_short_rows_and_cover_every_element():
    pytest.importorskip("triton")
    from suite.activations.fused import triton_blocks as blocks

    assert blocks.block_for(1) == 16 and blocks.block_for(77) == 128 and blocks.block_for(10**6) == blocks.BLOCK
    programs, chunks = blocks.grid(rows=6, inner=3000, block=1024)
    assert (programs, chunks) == (18, 3) and chunks * 1024 >= 3000 > (chunks - 1) * 1024


def test_self_check_probes_a_per_channel_unit_with_its_own_channel_count():
    """The first-use check must not fail a per-channel kernel for a channel mismatch of
    its own probe (it did: a fixed 5-channel probe sent every per-channel PWLU on CUDA to
    the reference for good)."""
    import warnings

    from suite.activations.fused.selfcheck import self_checked

    module = A.create("pwlu", channels=8, impl="reference")
    kernel = self_checked("probe-channels-test", fused._KERNELS[("pwlu", "cpu")])
    x = torch.randn(2, 8, 30)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        torch.testing.assert_close(kernel(module, x), module.reference_forward(x))


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (Triton kernels)")


@cuda
@pytest.mark.parametrize("name,params,shape", CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_triton_kernels_match_reference_on_cuda(name, params, shape, dtype):
    ref, fast = pair(name, params)
    ref, fast = ref.cuda(), fast.cuda()
    x = (torch.randn(shape, device="cuda") * 2.5).to(dtype).requires_grad_()
    y = fast(x)
    assert fused.lookup(fast.kernel_name, x, module=fast) is not None
    assert_kernel_matches(ref, y, x, torch.randn_like(y), list(fast.parameters()),
                          1e-5 if dtype == torch.float32 else 2e-2)


@pytest.mark.parametrize("name,params", [("swish_beta", {}), ("pwlu", {"channels": 4}), ("hermite", {"degree": 3})])
def test_self_check_passes_a_right_kernel_on_a_bfloat16_unit(name, params):
    """A bfloat16 model's units must keep their kernels: the first-use check (a float32
    probe) may not fail on the unit's dtype, or the kernel is off for good exactly in the
    runs that want it."""
    from suite.activations.fused.selfcheck import _agrees

    module = A.create(name, impl="reference", **params).to(torch.bfloat16)
    assert _agrees(fused._KERNELS[(module.kernel_name, "cpu")], module, torch.device("cpu"))
