"""The builds of a C++ kernel (suite/activations/fused/native.py) that tests hold to their
formulas: the machine's own, and on an AVX-512 machine one without AVX-512 too, since the
vector width, the exp and the sums' code paths differ between them."""
import functools
import shutil

import pytest
import torch

from suite import activations
from suite.activations.fused import cpu, native

VARIANTS = ["native", "no_avx512"]

needs_compiler = pytest.mark.skipif(shutil.which("c++") is None or shutil.which("ninja") is None,
                                    reason="needs a C++ compiler and ninja")


# Kernels whose arithmetic differs without fused multiply-adds (the Fourier range
# reduction) are also held to their formulas in a build without them.
FMA_VARIANTS = [*VARIANTS, "no_fma"]


@functools.lru_cache(maxsize=None)
def _variant(extension, variant):
    if variant == "no_avx512":
        return extension.build(("-mno-avx512f",), tag="_no_avx512")
    if variant == "no_fma":
        return extension.build(("-mno-avx512f", "-mno-fma"), tag="_no_fma")
    return extension.get()


def build(extension: native.NativeExtension, variant: str):
    """The compiled module of ``extension`` for ``variant`` (one of FMA_VARIANTS); skips a
    variant whose instructions the machine lacks anyway (its own build is then that path)."""
    if variant == "no_avx512" and not native.has_avx512():
        pytest.skip("no AVX-512 here: the default build already runs the generic vector path")
    if variant == "no_fma" and "fma" not in native.cpu_flags().split():
        pytest.skip("no FMA here: the default build already runs the path without it")
    return _variant(extension, variant)


def assert_gradients_close(names, grads, want, rtol=2e-5):
    """A kernel's float32 gradients against the float64 formula's, named for the message;
    parameter gradients are sums over many elements, so the tolerance is relative to each
    gradient's scale."""
    assert len(grads) == len(want) == len(names)
    for name, got, expected in zip(names, grads, want):
        assert got.dtype == torch.float32 and got.shape == expected.shape, name
        torch.testing.assert_close(got.double(), expected, rtol=rtol, atol=rtol * (1 + expected.abs().max().item()),
                                   msg=lambda m: f"gradient of {name}: {m}")


def check_against_formula(forward, backward, formula, x, dy, params, names, y_rtol=1e-6, grad_rtol=2e-5):
    """A kernel's ``forward(x, *params)`` and ``backward(x, dy, *params)`` against ``formula``
    in float64, differentiated by autograd: y within y_rtol (and 1e-6 of its scale), the
    gradients (named ``names``, x's first) by assert_gradients_close."""
    y = forward(x, *params)
    grads = backward(x, dy, *params)
    x64 = x.double().requires_grad_()
    params64 = [p.double().requires_grad_() for p in params]
    y64 = formula(x64, *params64)
    want = torch.autograd.grad(y64, [x64, *params64], dy.double())
    torch.testing.assert_close(y.double(), y64.detach(), rtol=y_rtol, atol=1e-6 * (1 + y64.abs().max().item()))
    assert_gradients_close(names, grads, want, rtol=grad_rtol)


def ops_sent_to(extension: native.NativeExtension, monkeypatch, unit, x) -> list[str]:
    """The ops (``"hermite"``, ``"tropical_rational"``, ...) that ``unit(x)`` runs through
    ``extension``'s C++ kernels, in order."""
    used = []
    real = extension.apply
    monkeypatch.setattr(extension, "apply", lambda op, *a, **k: used.append(op) or real(op, *a, **k))
    unit(x)
    return used


def assert_compiled_kernel_serves(monkeypatch, name, dtype, x_scale=2.0, **params):
    """An input the C++ extension does not take (``dtype``, or ``params`` beyond its limits)
    runs fused.cpu's torch.compile kernel for ``name``, exactly once, and that still matches
    the reference unit with the same parameters."""
    compiled = []
    real = getattr(cpu, f"{name}_kernel")
    monkeypatch.setattr(cpu, f"{name}_kernel", lambda m, x: compiled.append(1) or real(m, x))
    ref = activations.create(name, impl="reference", **params).to(dtype)
    fast = activations.create(name, impl="fused", **params).to(dtype)
    fast.load_state_dict(ref.state_dict())
    x = (torch.randn(2, 3, 8, 8) * x_scale).to(dtype)
    tol = dict(rtol=2e-2, atol=2e-2) if dtype == torch.bfloat16 else dict(rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast(x), ref(x), **tol)
    assert compiled == [1]
