"""Fused kernels equal their module's reference implementation, value and gradient.

The reference (``impl="reference"``) is plain PyTorch differentiated by autograd and is
itself checked against the papers' formulas elsewhere; here each fused kernel must
reproduce it at random inputs and random (not initial) parameters, save no more than
the input for backward, and actually be the path ``impl="auto"`` takes on the CPU.
"""
import math
import shutil

import pytest
import torch

import suite.activations as A
from suite.activations import fused
from suite.activations.fused import cpu_pwlu, native
from suite.errors import SuiteError

CASES = [
    ("pwlu", {}),
    ("pwlu", {"channels": 3}),
    ("pwlu_fixed", {"channels": 3}),
    ("hermite", {"degree": 3}),
    ("hermite", {"degree": 8}),
    ("fourier", {"degree": 5}),
    ("tropical", {"degree": 5}),
    ("swish_beta", {}),
    ("swish_beta", {"channels": 3}),
    ("acon_c", {"channels": 3}),
    ("apalu", {}),
    ("pau", {}),
    ("tropical_rational", {"degree": 4}),
    ("prelu", {}),
    ("prelu", {"channels": 3}),
    ("sqish", {}),
    ("meta_acon", {"channels": 3}),
    ("bspline", {}),
    ("bspline", {"channels": 3, "spline_order": 2, "grid_size": 4}),
    ("sqish", {"channels": 3, "beta": 2.0}),
]


def pair(name, params):
    ref = A.create(name, impl="reference", **params)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.2 * torch.randn_like(p))
    fast = A.create(name, impl="fused", **params)
    fast.load_state_dict(ref.state_dict())
    return ref, fast


def assert_matches_reference(ref, fast, x, name, **value_tolerance):
    """fast(x) equals ref(x) (``value_tolerance``: assert_close's, default its own), and so
    do the gradients of the input and of every parameter."""
    dy = torch.randn_like(x)
    y_ref, y_fast = ref(x), fast(x)
    torch.testing.assert_close(y_fast, y_ref, **value_tolerance)
    g_ref = torch.autograd.grad(y_ref, [x, *ref.parameters()], dy)
    g_fast = torch.autograd.grad(y_fast, [x, *fast.parameters()], dy)
    for (pname, _), a, b in zip([("input", None), *ref.named_parameters()], g_fast, g_ref):
        # parameter gradients are sums over thousands of elements: compare relative to their scale
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * (1 + b.abs().max().item()), msg=lambda m: f"{name} grad {pname}: {m}")


@pytest.mark.parametrize("name,params", CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_fused_matches_reference(name, params):
    ref, fast = pair(name, params)
    x = (torch.randn(4, 3, 17, 19) * 2.5).requires_grad_()
    assert_matches_reference(ref, fast, x, name, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name,params", [("pwlu", {}), ("hermite", {"degree": 8}), ("fourier", {"degree": 3})])
def test_fused_saves_only_the_input(name, params):
    _, fast = pair(name, params)
    x = torch.randn(8, 3, 32, 32, requires_grad=True)
    big = []

    def pack(t):
        if t.numel() >= x.numel():
            big.append(t.untyped_storage().data_ptr())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fast(x)
    assert len(set(big)) <= 1, f"{name} saved {len(set(big))} input-sized tensors"


def test_auto_uses_the_fused_kernel_and_env_switch_disables_it(monkeypatch):
    calls = []
    kernel = fused._KERNELS[("hermite", "cpu")]
    monkeypatch.setitem(fused._KERNELS, ("hermite", "cpu"), lambda m, x: calls.append(1) or kernel(m, x))
    m = A.create("hermite", degree=3)  # impl="auto"
    m(torch.randn(10))
    assert calls == [1]
    monkeypatch.setenv("SUITE_FUSED", "0")
    m(torch.randn(10))
    assert calls == [1]


def test_pwlu_statistics_phase_bypasses_the_kernel():
    m = A.create("pwlu")
    m.begin_statistics()
    x = torch.randn(1000) * 0.5 + 2
    torch.testing.assert_close(m(x), torch.relu(x))
    assert m.running_mean.item() != 0.0


def test_required_fused_kernel_missing_is_a_clear_error():
    m = A.create("pwlu", impl="fused")
    m.kernel_name = "not_a_kernel"
    with pytest.raises(SuiteError, match="no fused kernel 'not_a_kernel'"):
        m(torch.randn(3))


def test_self_check_rejects_a_wrong_kernel_and_keeps_a_right_one():
    from suite.activations.fused.selfcheck import self_checked

    module = A.create("hermite", degree=3, impl="reference")
    x = torch.randn(50)
    wrong = self_checked("wrong-test", lambda m, t: m.reference_forward(t) + 1.0)
    with pytest.warns(RuntimeWarning, match="disagrees"):
        y = wrong(module, x)
    torch.testing.assert_close(y, module.reference_forward(x))  # fell back to the reference
    right = self_checked("right-test", fused._KERNELS[("hermite", "cpu")])
    torch.testing.assert_close(right(module, x), module.reference_forward(x))


@pytest.mark.skipif(shutil.which("c++") is None or shutil.which("ninja") is None, reason="needs a C++ compiler and ninja")
def test_pwlu_cpu_extension_builds():
    """Without this, a failed build would pass unnoticed: the fallback is the reference."""
    assert cpu_pwlu.extension() is not None


needs_extension = pytest.mark.skipif(shutil.which("c++") is None or shutil.which("ninja") is None,
                                     reason="needs a C++ compiler and ninja")
PWLU_FORMS = [("hinge", 8, None), ("hinge", 16, None), ("hinge", 32, 5), ("hinge", 16, 5),
              ("scalar", 16, None), ("scalar", 64, 5)]


def check_pwlu_form(ext, form, regions, channels, dtype):
    """One formulation of a build of the C++ kernel against the reference, on inputs that
    hit every region end exactly, both outer regions and rows whose length is not a
    multiple of the vector block (the padded tail)."""
    unit = A.create("pwlu", regions=regions, channels=channels, impl="reference").to(dtype)
    with torch.no_grad():
        unit.heights.add_(0.3 * torch.randn_like(unit.heights))
        unit.left_slope.fill_(-0.2)
        unit.right_slope.fill_(1.3)
    width = 6.0 / regions  # default bounds (-3, 3)
    ends = torch.tensor([-3.0 + k * width for k in range(regions + 1)], dtype=dtype)
    x = torch.randn(3, channels or 4, 301, dtype=dtype) * 2.5  # rows: 2 vector blocks + a tail
    x.view(-1)[: ends.numel()] = ends
    x = x.requires_grad_()
    dy = torch.randn_like(x)
    params = [unit.heights, unit.left_slope, unit.right_slope, unit.left_bound, unit.right_bound]
    y_ref = unit(x)
    g_ref = torch.autograd.grad(y_ref, [x, *params], dy)
    args = [t.detach() for t in (unit.heights, unit.left_bound, unit.right_bound, unit.left_slope, unit.right_slope)]
    y = getattr(ext, f"forward_{form}")(x.detach(), *args)
    grads = getattr(ext, f"backward_{form}")(x.detach(), dy, *args)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(y, y_ref, rtol=tol, atol=tol)
    assert len(grads) == len(g_ref)  # every parameter's gradient, the learned bounds' included
    for name, a, b in zip(["input", "heights", "left_slope", "right_slope", "left_bound", "right_bound"], grads, g_ref):
        torch.testing.assert_close(a.reshape(b.shape), b, rtol=10 * tol, atol=10 * tol * (1 + b.abs().max().item()),
                                   msg=lambda m: f"{form} grad {name}: {m}")


@needs_extension
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("form,regions,channels", PWLU_FORMS, ids=[f"{f}-{r}-{c}" for f, r, c in PWLU_FORMS])
def test_pwlu_cpu_kernel_forms_match_reference(form, regions, channels, dtype):
    """Both formulations of the C++ kernel (the dispatch picks one by the number of regions)."""
    check_pwlu_form(cpu_pwlu.extension(), form, regions, channels, dtype)


@needs_extension
@pytest.mark.parametrize("regions,channels", [(16, None), (16, 5), (32, None)])
def test_pwlu_cpu_forward_far_outside_and_non_finite(regions, channels):
    """The hinge forward looks up the outer lines with the inner ones where all N + 2 fit
    one vector table (16 regions with AVX-512) and compares x with the bounds otherwise
    (32): both give the reference's values far outside the bounds, at +-inf and NaN."""
    unit = A.create("pwlu", regions=regions, channels=channels, impl="reference")
    with torch.no_grad():
        unit.heights.add_(0.3 * torch.randn_like(unit.heights))
        unit.left_slope.fill_(-0.2)
        unit.right_slope.fill_(1.3)
    far = torch.tensor([-1e5, -1e3, -40.0, -3.0001, 3.0001, 40.0, 1e3, 1e5, -math.inf, math.inf, math.nan])
    x = far.repeat(2, channels or 1, 13)  # 143 per row: a full block of 128 and a padded tail
    args = [t.detach() for t in (unit.heights, unit.left_bound, unit.right_bound, unit.left_slope, unit.right_slope)]
    with torch.no_grad():
        y_ref = unit(x)
    y = cpu_pwlu.extension().forward_hinge(x, *args)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5, equal_nan=True)


@needs_extension
@pytest.mark.skipif(not native.has_avx512(),
                    reason="no AVX-512 here: the default build already runs the AVX code path")
def test_pwlu_kernel_built_without_avx512_matches_reference():
    """The C++ kernel has one region-table lookup per vector unit (AVX-512 vpermt2ps, AVX
    vpermilps, compare-and-select elsewhere). A CPU runs only its own by default, so on an
    AVX-512 machine the AVX path is built separately and held to the reference too."""
    ext = cpu_pwlu.NATIVE.build(("-mno-avx512f",), tag="_no_avx512")
    for regions, channels in [(16, None), (16, 5), (32, 5), (8, None)]:
        for dtype in (torch.float32, torch.float64):
            check_pwlu_form(ext, "hinge", regions, channels, dtype)


def test_a_changed_shared_header_gives_a_new_build(tmp_path, monkeypatch):
    """torch rebuilds a cached extension only when its .cpp changes; the headers the kernels
    share (simd.h, exp.h, ...) are in the build's name so an edit to one is never served
    from a stale cache."""
    (tmp_path / "simd.h").write_text("// one")
    monkeypatch.setattr(native, "CSRC", tmp_path)
    before = native._build_tag()
    assert native._build_tag() == before  # stable while nothing changes
    (tmp_path / "simd.h").write_text("// two")
    assert native._build_tag() != before


def test_bf16_pwlu_on_cpu_is_not_labelled_fused():
    """The CPU kernel takes float32/float64 only: bf16 must run (and be labelled) reference."""
    from suite.bench.subjects import parse_act, resolve_impls

    sample = torch.randn(2, 3, dtype=torch.bfloat16)
    assert resolve_impls(parse_act("pwlu"), "auto", sample) == ["reference"]
    assert resolve_impls(parse_act("pwlu"), "all", sample) == ["reference"]
    with pytest.raises(SuiteError, match="no fused kernel for cpu bfloat16"):
        resolve_impls(parse_act("pwlu"), "fused", sample)
    unit = A.create("pwlu", impl="fused").to(torch.bfloat16)
    with pytest.raises(SuiteError, match="dtype bfloat16"):
        unit(sample)
    assert A.create("pwlu").to(torch.bfloat16)(sample).dtype == torch.bfloat16  # auto falls back


def test_fast_cos_sin_of_the_fourier_kernel_against_float64():
    from suite.activations.fused import cpu

    z = torch.linspace(-100, 100, 200_001)
    c, s = cpu.fast_cos_sin(z)
    exact = z.double()
    assert (c.double() - torch.cos(exact)).abs().max() < 2e-6
    assert (s.double() - torch.sin(exact)).abs().max() < 2e-6
    torch.testing.assert_close(cpu.fast_cos(z), c)


def _first_maximum(x, slopes, offsets):
    lines = x[:, None] * slopes + offsets
    return (lines == lines.amax(1, keepdim=True)).to(torch.int64).argmax(1)


@pytest.mark.parametrize("seed", range(5))
def test_envelope_breakpoints_give_the_first_winning_line(seed):
    """The fused tropical backwards count breakpoints instead of evaluating every line:
    with the slopes in order, the count must be the index of the first maximum of
    slope_k x + c_k, for the tropical unit's slopes 0..d, for random slopes with some
    repeated, for offsets whose lines never reach the envelope (large random c), and at
    the tropical unit's initial c = 1, where every line meets at x = 0 and line 0 wins."""
    from suite.activations.fused.cpu import envelope_breakpoints

    gen = torch.Generator().manual_seed(seed)
    n = 3 + seed
    f64 = dict(dtype=torch.float64)
    x = torch.cat([torch.linspace(-20, 20, 4001, **f64), torch.zeros(1, **f64)])
    random_slopes = torch.randn(n, generator=gen, **f64).sort().values
    repeated = random_slopes.clone()
    repeated[1] = repeated[0]  # two parallel lines: the lower one never wins
    for slopes in (torch.arange(n, **f64), random_slopes, repeated):
        for offsets in (3 * torch.randn(n, generator=gen, **f64), torch.ones(n, **f64)):
            b = envelope_breakpoints(slopes, offsets)
            count = (x[:, None] > b).sum(1)
            near = (x[:, None] - b).abs().amin(1) < 1e-9  # at a kink both neighbours tie
            first = _first_maximum(x, slopes, offsets)
            assert torch.equal(count[~near], first[~near]), (slopes, offsets, b)
            assert (b[1:] >= b[:-1]).all(), "breakpoints must not decrease"
    b = envelope_breakpoints(torch.arange(n, **f64), torch.ones(n, **f64))
    assert (torch.tensor(0.0, **f64) > b).sum() == 0  # c = 1: the tie at 0 goes to line 0


def test_tropical_rational_backward_with_unsorted_and_repeated_slopes():
    """tropical_rational's learnable slopes come in any order (and may repeat): its
    breakpoint backward sorts them and must hand each gradient back to its own line."""
    ref, fast = pair("tropical_rational", {"degree": 4})
    with torch.no_grad():
        for unit in (ref, fast):
            unit.powers_num.copy_(torch.tensor([2.0, -1.0, 0.5, 0.5, -3.0]))
            unit.coefficients_num.copy_(torch.tensor([0.1, 0.4, -0.2, 0.3, 1.0]))
    x = (torch.randn(5, 3, 41) * 3).requires_grad_()
    assert_matches_reference(ref, fast, x, "tropical_rational")


def test_fourier_backward_is_one_pass_over_the_input():
    """The Fourier backward reads x and dy once: dx and all 16 parameter-gradient sums in
    one loop, so the cos/sin are computed once. (Inductor's default limit on side-by-side
    fusion splits it into two passes; cpu.one_pass raises the limit.)"""
    from torch._inductor.utils import run_and_get_code

    from suite.activations.fused import cpu

    options = getattr(cpu.fourier_backward, "inductor_options", None)
    if options is None:
        pytest.skip("this torch's inductor has no cpp.max_horizontal_fusion_size to raise")
    module = A.create("fourier", degree=5)
    x = torch.randn(4, 3, 64, 64)
    params = [p.detach() for p in (module.fundamental, module.coefficients, module.frequencies, module.phases)]
    torch._dynamo.reset()
    fn = torch.compile(cpu.fourier_backward, fullgraph=True, options=options)
    _, (code, *_) = run_and_get_code(fn, x, torch.randn_like(x), *params)
    loops = code.count(f"<static_cast<int64_t>({x.numel()}L)")
    assert loops == 1, f"{loops} loops over the input in the compiled Fourier backward"


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "eager"])
@pytest.mark.parametrize("name,params", [("tropical", {"degree": 5}), ("tropical_rational", {"degree": 4})])
def test_tropical_bf16_gradients_follow_the_winning_line(name, params, compiled):
    """In bf16 every input must still get the gradient of the line that wins for it, as
    the float32 reference with the same (bf16-rounded) parameters says. The breakpoints
    are quotients of parameter differences: computed in bf16 they would be off by up to
    0.4 % and misassign inputs near kinks, so they are computed in float32 (inductor
    upcasts anyway; the eager math, used when torch.compile fails, must do it itself)."""
    from suite.activations.fused import cpu

    torch.manual_seed(0)
    _, fast = pair(name, params)
    fast = fast.bfloat16()
    ref = A.create(name, impl="reference", **params)
    ref.load_state_dict({k: v.float() for k, v in fast.state_dict().items()})
    x = (torch.randn(4, 3, 500) * 2.5).bfloat16()
    dy = torch.randn_like(x, dtype=torch.float32).bfloat16()
    xr = x.float().requires_grad_()
    g_ref = torch.autograd.grad(ref(xr), [xr, *ref.parameters()], dy.float())
    if compiled:
        xb = x.clone().requires_grad_()
        g_fast = torch.autograd.grad(fast(xb), [xb, *fast.parameters()], dy)
    else:
        backward = {"tropical": cpu.tropical_backward, "tropical_rational": cpu.tropical_rational_backward}[name]
        g_fast = backward(x, dy, *[p.detach() for p in fast.parameters()])
    for a, b in zip(g_fast, g_ref):
        torch.testing.assert_close(a.float(), b, rtol=2e-2, atol=2e-2 * (1 + b.abs().max().item()))
