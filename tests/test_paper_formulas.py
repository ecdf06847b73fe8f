"""Every registered activation, reference and fused path, against its source's formula.

The formulas below are written out here, independently of suite.activations, from the
source each activation names (suite/activations/sources.py):
- classics: the papers' formulas (ELU: Clevert et al. Eq. 1; SELU's lambda and alpha:
  Klambauer et al. Eq. 2; GELU: x Phi(x) and its tanh form; Mish: x tanh(softplus x);
  hard-swish: x relu6(x + 3) / 6; Primer's relu(x)^2);
- PReLU: He et al. 2015 Eq. 1; Swish-beta: Ramachandran et al. 2017;
- ACON-C and Meta-ACON: nmaac/acon, acon.py at 4d669b97a44de9ff58f817a9db0f67946ab8d74e
  (classes AconC, MetaAconC: a BatchNorm after each 1x1 conv, width max(r, C // r));
- PAU: ml-research/pau, pau/cuda/python_imp/Pade.py at c122738ff8a3b0f50cd48bb03071fadf85e12875
  (PADEACTIVATION_F_python: version A, Q = 1 + sum |b_k| |x|^k), and the paper's B;
- PWLU: Zhou et al. 2021 Sec. 3 (as /work/shared/REFERENCES.md states it);
- Hermite, Fourier, Tropical, tropical rational: arXiv 2502.01247, and the authors'
  torchortho 0.1.2 itself (pip-installed) on the same parameters;
- KAN B-spline: Cox-de Boor's recursion, Liu et al. 2024 Sec. 2.2;
- APALU and Sqish: the public re-implementations' forms (their papers were not read;
  baselines/README.md says so).

All in float64. Fused paths run the fused kernels' own math (torch.compile is switched off
for speed; ``slow`` tests repeat the gradchecks through the compiled kernels), with a
float64 gradcheck of input and every parameter, per layer and per channel, and inputs
exactly at kinks and ties, where the subgradient each path picks is asserted.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import suite.activations as A
from suite.activations import fused
from suite.activations.fused import cpu

D = torch.float64
TORCH_CPU_FUSED = sorted({name for (name, device) in fused._KERNELS if device == "cpu"})


def sig(z):
    return 1 / (1 + torch.exp(-z))


def ch(p, x):
    """A [1] or [C] parameter broadcast along x's dimension 1."""
    shape = [1] * x.dim()
    if p.numel() > 1:
        shape[1] = p.numel()
    return p.reshape(shape)


def pwlu_formula(m, x):
    out = torch.empty_like(x)
    heights = m.heights.reshape(-1, m.heights.shape[-1])
    channels = heights.shape[0]
    for c in range(channels):
        xc = x[:, c] if channels > 1 else x
        y, bl, br = heights[c], m.left_bound.reshape(-1)[c], m.right_bound.reshape(-1)[c]
        n = y.shape[0] - 1
        d = (br - bl) / n
        i = torch.clamp(torch.floor((xc - bl) / d), 0, n - 1).long()
        t = (xc - bl) / d - i
        inside = y[i] + t * (y[i + 1] - y[i])
        left = (xc - bl) * m.left_slope.reshape(-1)[c] + y[0]
        right = (xc - br) * m.right_slope.reshape(-1)[c] + y[n]
        value = torch.where(xc < bl, left, torch.where(xc >= br, right, inside))
        if channels > 1:
            out[:, c] = value
        else:
            out = value
    return out


def bspline_basis(x, t, i, k):
    if k == 0:
        return ((x >= t[i]) & (x < t[i + 1])).to(x.dtype)
    return ((x - t[i]) / (t[i + k] - t[i]) * bspline_basis(x, t, i, k - 1)
            + (t[i + k + 1] - x) / (t[i + k + 1] - t[i + 1]) * bspline_basis(x, t, i + 1, k - 1))


def bspline_formula(m, x):
    t = m.knots.to(D)
    coefficients = m.coefficients.reshape(-1, m.coefficients.shape[-1])
    spline = sum(ch(coefficients[:, i], x) * bspline_basis(x, t, i, m.spline_order)
                 for i in range(coefficients.shape[1]))
    return ch(m.base_weight, x) * x * sig(x) + ch(m.spline_weight, x) * spline


def meta_acon_formula(m, x):
    # acon.py MetaAconC.forward: beta = sigmoid(bn2(fc2(bn1(fc1(mean over H, W))))), BN in
    # training mode: batch mean and biased batch variance, eps 1e-5
    def bn(z, bn_module):
        mean, var = z.mean(0, keepdim=True), z.var(0, unbiased=False, keepdim=True)
        return (z - mean) / torch.sqrt(var + bn_module.eps) * bn_module.weight + bn_module.bias

    pooled = x.mean(dim=(2, 3))
    hidden = bn(pooled @ m.fc1.weight.flatten(1).T + m.fc1.bias, m.bn1)
    beta = sig(bn(hidden @ m.fc2.weight.flatten(1).T + m.fc2.bias, m.bn2))[:, :, None, None]
    p1, p2 = ch(m.p1, x), ch(m.p2, x)
    return (p1 * x - p2 * x) * sig(beta * (p1 * x - p2 * x)) + p2 * x


def pau_formula(m, x):
    p = sum(a * x**k for k, a in enumerate(m.numerator))
    if m.version == "A":
        q = 1 + sum(b.abs() * x.abs() ** (k + 1) for k, b in enumerate(m.denominator))
    else:
        q = 1 + sum(b * x ** (k + 1) for k, b in enumerate(m.denominator)).abs()
    return p / q


def hermite_formula(m, x):
    he = [torch.ones_like(x), x]  # probabilists' He_k by He_{k+1} = x He_k - k He_{k-1}
    for k in range(1, m.degree):
        he.append(x * he[k] - k * he[k - 1])
    return sum(c * he[k] / math.factorial(k) for k, c in enumerate(m.coefficients))


def fourier_formula(m, x):
    return m.fundamental + sum(m.coefficients[k] * torch.cos(m.frequencies[k] * x - m.phases[k]) / math.factorial(k + 1)
                               for k in range(m.degree))


SELU_LAMBDA, SELU_ALPHA = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717

FORMULAS = {
    "relu": lambda m, x: x * (x > 0),
    "softplus": lambda m, x: torch.log1p(torch.exp(x)),  # Dugas et al. 2000; beta = 1
    "leaky_relu": lambda m, x: torch.where(x >= 0, x, 0.01 * x),
    "elu": lambda m, x: torch.where(x > 0, x, torch.expm1(x)),
    "selu": lambda m, x: SELU_LAMBDA * torch.where(x > 0, x, SELU_ALPHA * torch.expm1(x)),
    "gelu": lambda m, x: 0.5 * x * (1 + torch.erf(x / math.sqrt(2))),
    "gelu_tanh": lambda m, x: 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
    "silu": lambda m, x: x * sig(x),
    "mish": lambda m, x: x * torch.tanh(torch.log1p(torch.exp(x))),
    "hardswish": lambda m, x: x * torch.clamp(x + 3, 0, 6) / 6,
    "relu2": lambda m, x: (x * (x > 0)) ** 2,
    "prelu": lambda m, x: torch.where(x > 0, x, ch(m.weight, x) * x),
    "swish_beta": lambda m, x: x * sig(ch(m.beta, x) * x),
    "acon_c": lambda m, x: ((ch(m.p1, x) - ch(m.p2, x)) * x * sig(ch(m.beta, x) * (ch(m.p1, x) - ch(m.p2, x)) * x)
                            + ch(m.p2, x) * x),
    "meta_acon": meta_acon_formula,
    "sqish": lambda m, x: ch(m.alpha, x) * x + (1 - ch(m.alpha, x)) * x / (
        1 + m.beta * torch.exp(-2 * ch(m.gamma, x) * (1 - ch(m.alpha, x)) * x)),
    "apalu": lambda m, x: torch.where(x >= 0, m.a * (x + x * sig(1.702 * x)), m.b * torch.expm1(torch.clamp(x, max=0))),
    "pau": pau_formula,
    "pwlu": pwlu_formula,
    "pwlu_fixed": pwlu_formula,  # same function; only which parameters train differs
    "hermite": hermite_formula,
    "fourier": fourier_formula,
    "tropical": lambda m, x: math.sqrt(2) / m.degree * torch.stack(
        [k * x + c for k, c in enumerate(m.coefficients)]).amax(0),
    "tropical_rational": lambda m, x: (
        torch.stack([p * x + c for p, c in zip(m.powers_num, m.coefficients_num)]).amax(0)
        - torch.stack([p * x + c for p, c in zip(m.powers_denom, m.coefficients_denom)]).amax(0)),
    "bspline": bspline_formula,
}

# (name, build parameters): every registered name per layer, the per-channel ones per
# channel too, and the variants that change the formula.
CASES = [(name, {"degree": 4} if A.ACTIVATIONS.get(name).info.get("needs_degree") else {})
         for name in A.names() if name != "meta_acon"]
# (Meta-ACON at reduction 2: a switch of width 2, so its gradcheck has few parameters)
CASES += [(name, {"channels": 3, **({"reduction": 2} if name == "meta_acon" else {})})
          for name in A.names() if A.ACTIVATIONS.get(name).info.get("per_channel")]
CASES += [("pau", {"version": "B"}), ("pau", {"numerator_degree": 3, "denominator_degree": 2}),
          ("bspline", {"spline_order": 1}), ("hermite", {"degree": 1}), ("fourier", {"degree": 1})]
FUSED_CASES = [(n, p) for n, p in CASES if n in TORCH_CPU_FUSED]


def ids(cases):
    return [f"{n}-{'-'.join(f'{k}={v}' for k, v in p.items())}" if p else n for n, p in cases]


def build(name, impl, seed=0, **params):
    """A float64 unit of ``name`` with every parameter moved off its init (seeded)."""
    module = A.create(name, impl=impl, **params).to(D)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=D))
    return module


def twins(name, **params):
    ref = build(name, "reference", **params)
    fast = A.create(name, impl="fused", **params).to(D)
    fast.load_state_dict(ref.state_dict())
    return ref, fast


def inputs(params, seed=1, n=40):
    """x of shape [2, 3, n/2, 2] (channel dim 1), scaled past every unit's inner range."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(2, 3, n // 2, 2, generator=gen, dtype=D) * 2.5


@pytest.fixture
def eager_fused(monkeypatch):
    """The fused kernels' math without torch.compile (each compile costs seconds)."""
    monkeypatch.setattr(cpu, "compiled", lambda fn: fn)


def test_every_registered_activation_has_a_formula_here_and_a_source():
    assert set(FORMULAS) == set(A.names())
    for entry in A.ACTIVATIONS:
        assert entry.info.get("source"), f"{entry.name} names no source"
        assert "deviation" in entry.info


@pytest.mark.parametrize("name,params", CASES, ids=ids(CASES))
def test_reference_follows_the_formula(name, params):
    m = build(name, "reference", **params)
    x = inputs(params).requires_grad_()
    y, want = m(x), FORMULAS[name](m, x)
    torch.testing.assert_close(y, want, rtol=1e-10, atol=1e-12)
    dy = torch.randn_like(y)
    wrt = [x, *m.parameters()]
    for got, expected in zip(torch.autograd.grad(y, wrt, dy), torch.autograd.grad(want, wrt, dy)):
        torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name,params", FUSED_CASES, ids=ids(FUSED_CASES))
def test_fused_path_follows_the_formula(name, params, eager_fused):
    ref, fast = twins(name, **params)
    x = inputs(params).requires_grad_()
    assert fused.lookup(fast.kernel_name, x, module=fast) is not None
    y, want = fast(x), FORMULAS[name](ref, x)
    torch.testing.assert_close(y, want, rtol=1e-10, atol=1e-12)
    dy = torch.randn_like(y)
    got = torch.autograd.grad(y, [x, *fast.parameters()], dy)
    expected = torch.autograd.grad(want, [x, *ref.parameters()], dy)
    for (what, _), g, e in zip([("x", None), *ref.named_parameters()], got, expected):
        torch.testing.assert_close(g, e, rtol=1e-9, atol=1e-10, msg=lambda s, what=what: f"{what}: {s}")


def gradcheck_unit(module, x):
    names = [n for n, _ in module.named_parameters()]

    def f(x, *ps):
        return torch.func.functional_call(module, dict(zip(names, ps)), (x,))

    assert torch.autograd.gradcheck(f, (x, *(p.detach().requires_grad_() for p in module.parameters())))


def kinks(module) -> torch.Tensor:
    """Where the unit's formula has no derivative: 0 for the piecewise units, the knots
    of the spline and the region edges of PWLU."""
    points = [torch.zeros(1, dtype=D)]
    if hasattr(module, "knots"):
        points.append(module.knots.to(D).reshape(-1))
    if hasattr(module, "heights"):
        n = module.heights.shape[-1] - 1
        left, right = module.left_bound.to(D).reshape(-1, 1), module.right_bound.to(D).reshape(-1, 1)
        points.append((left + (right - left) * torch.arange(n + 1, dtype=D) / n).reshape(-1))
    return torch.cat(points)


def off_kinks(module, x):
    """x moved 0.01 away from every kink (finite differences must not straddle one)."""
    near = (x.unsqueeze(-1) - kinks(module)).abs().amin(-1) < 1e-3
    return torch.where(near, x + 0.01, x)


def gradcheck_input(name, module, params):
    if name.startswith("tropical"):  # keep finite differences inside one line's region
        return torch.tensor([-2.3, -1.1, 0.37, 0.9, 1.7, 2.6], dtype=D).reshape(1, 3, 2).requires_grad_()
    return off_kinks(module, inputs(params, n=8)).requires_grad_()


@pytest.mark.parametrize("name,params", FUSED_CASES, ids=ids(FUSED_CASES))
def test_fused_path_passes_float64_gradcheck(name, params, eager_fused):
    _, fast = twins(name, **params)
    gradcheck_unit(fast, gradcheck_input(name, fast, params))


@pytest.mark.slow
@pytest.mark.parametrize("name,params", FUSED_CASES, ids=ids(FUSED_CASES))
def test_compiled_fused_path_passes_float64_gradcheck(name, params):
    """The same through torch.compile's kernels, as a float64 input runs them."""
    ref, fast = twins(name, **params)
    x = gradcheck_input(name, fast, params)
    torch.testing.assert_close(fast(x), FORMULAS[name](ref, x), rtol=1e-12, atol=1e-13)
    gradcheck_unit(fast, x)


# --- inputs exactly at kinks and ties: the subgradient each path picks ------------------
def grads_at(module, x, dy=None):
    x = x.clone().requires_grad_()
    y = module(x)
    return torch.autograd.grad(y, [x, *module.parameters()], torch.ones_like(y) if dy is None else dy)


@pytest.mark.parametrize("channels", [None, 3])
def test_prelu_slope_at_zero_is_a_on_both_paths_as_torch(channels, eager_fused):
    ref, fast = twins("prelu", channels=channels)
    x = torch.zeros(2, 3, 4, dtype=D)
    a = ch(ref.weight, x).expand_as(x)
    for module in (ref, fast):
        dx, dweight = grads_at(module, x)
        torch.testing.assert_close(dx, a)
        assert not dweight.any()  # d/da (a x) = x = 0
    x = x.clone().requires_grad_()
    (torch_dx,) = torch.autograd.grad(torch.nn.PReLU(3 if channels else 1).to(D)(x).sum(), [x])
    torch.testing.assert_close(torch_dx, torch.full_like(x, 0.25))  # torch's choice: a (its init 0.25)


def test_apalu_at_zero_takes_the_positive_branch_on_both_paths(eager_fused):
    ref, fast = twins("apalu")
    x = torch.tensor([0.0, -0.0], dtype=D)
    for module in (ref, fast):
        dx, da, db = grads_at(module, x)
        torch.testing.assert_close(dx, 1.5 * ref.a.detach().expand(2))  # a (1 + sigmoid(0))
        assert not da.any() and not db.any()


@pytest.mark.parametrize("version", ["A", "B"])
def test_pau_slope_at_zero_is_the_numerators_over_q(version, eager_fused):
    """|x| (A) and |r| (B) have subgradient 0 at 0, as autograd's abs: dy/dx = a_1 there."""
    ref, fast = twins("pau", version=version)
    x = torch.tensor([0.0, -0.0], dtype=D)
    for module in (ref, fast):
        dx, d_num, d_den = grads_at(module, x)
        torch.testing.assert_close(dx, ref.numerator[1].detach().expand(2))
        torch.testing.assert_close(d_num, torch.tensor([2.0, 0, 0, 0, 0, 0], dtype=D))
        assert not d_den.any()


TIES = torch.tensor([0.0, 1.0, 2.0, 3.0, 2.5], dtype=D)  # c = (0, -1, -3, -6): lines k, k+1 meet at x = k + 1


def test_tropical_ties_go_to_the_least_slope_line_on_both_paths_as_torchortho(eager_fused):
    import torchortho

    ref, fast = twins("tropical", degree=3)
    theirs = torchortho.TropicalActivation(3).double()
    with torch.no_grad():
        for unit in (ref, fast, theirs):
            unit.coefficients.copy_(torch.tensor([0.0, -1.0, -3.0, -6.0]))
    scale = math.sqrt(2) / 3
    # the winning line's slope at 0, 1, 2, 3 (ties: the lower line) and 2.5 (line 2, no tie)
    want_dx = scale * torch.tensor([0.0, 0.0, 1.0, 2.0, 2.0], dtype=D)
    want_dc = scale * torch.tensor([2.0, 1.0, 2.0, 0.0], dtype=D)  # wins per line
    for unit in (ref, fast, theirs):
        dx, dc = grads_at(unit, TIES)
        torch.testing.assert_close(dx, want_dx)
        torch.testing.assert_close(dc, want_dc)
    # at init (c = 1) every line meets at x = 0: all of the gradient to line 0
    for unit in twins("tropical", degree=5):
        with torch.no_grad():
            unit.coefficients.fill_(1.0)
        dx, dc = grads_at(unit, torch.zeros(3, dtype=D))
        assert not dx.any() and not dc[1:].any()
        assert dc[0].item() == pytest.approx(3 * math.sqrt(2) / 5, rel=1e-12)


def test_tropical_rational_ties_go_to_the_least_slope_line_on_both_paths(eager_fused):
    """Slopes out of index order: lines 0 (slope 2) and 1 (slope -1) tie at x = 0 in the
    numerator; the least slope, line 1, takes the gradient (torchortho's max would give it
    to line 0, the first index: the documented deviation)."""
    ref, fast = twins("tropical_rational", degree=2)
    with torch.no_grad():
        for unit in (ref, fast):
            unit.powers_num.copy_(torch.tensor([2.0, -1.0, 0.5]))
            unit.coefficients_num.copy_(torch.tensor([0.0, 0.0, -5.0]))
            unit.powers_denom.copy_(torch.tensor([0.0, 1.0, 3.0]))
            unit.coefficients_denom.copy_(torch.tensor([0.0, 0.0, -4.0]))  # lines 0 and 1 tie at 0 too
    for unit in (ref, fast):
        dx, dpn, dcn, dpd, dcd = grads_at(unit, torch.zeros(1, dtype=D))
        assert dx.item() == -1.0 - 0.0  # numerator line 1's slope minus denominator line 0's
        torch.testing.assert_close(dcn, torch.tensor([0.0, 1.0, 0.0], dtype=D))
        torch.testing.assert_close(dcd, torch.tensor([-1.0, 0.0, 0.0], dtype=D))
        assert not dpn.any() and not dpd.any()  # d/dp (p x) = x = 0


@pytest.mark.parametrize("channels", [None, 3])
def test_pwlu_at_its_bounds_and_region_edges_takes_the_right_hand_piece(channels, eager_fused):
    ref, fast = twins("pwlu", channels=channels)
    with torch.no_grad():  # bounds whose edges are exact binary fractions, different per channel
        for unit in (ref, fast):
            c = torch.arange(unit.left_bound.numel(), dtype=D).reshape(unit.left_bound.shape)
            unit.left_bound.copy_(-2.0 - c)
            unit.right_bound.copy_(2.0 + c)
    n = ref.heights.shape[-1] - 1
    heights = ref.heights.detach().reshape(-1, n + 1)
    x = torch.empty(2, 3, 4, dtype=D)
    want = torch.empty_like(x)
    for c in range(3):  # each channel at its own edges: the bounds are learned per channel
        k = c if channels else 0
        bl, br = ref.left_bound.reshape(-1)[k].item(), ref.right_bound.reshape(-1)[k].item()
        d = (br - bl) / n
        x[:, c] = torch.tensor([bl, bl + d, bl + 5 * d, br], dtype=D)
        h = heights[k]
        slopes = [(h[1] - h[0]) / d, (h[2] - h[1]) / d, (h[6] - h[5]) / d, ref.right_slope.reshape(-1)[k]]
        want[:, c] = torch.stack(slopes)
    for module in (ref, fast):
        torch.testing.assert_close(grads_at(module, x)[0], want)


def test_bspline_of_order_one_at_a_knot_takes_the_right_hand_slope(eager_fused):
    ref, fast = twins("bspline", spline_order=1)
    knot = ref.knots[3].item()
    h = 1e-7
    for module in (ref, fast):
        dx = grads_at(module, torch.tensor([knot], dtype=D))[0]
        with torch.no_grad():
            right = (module(torch.tensor([knot + h], dtype=D)) - module(torch.tensor([knot], dtype=D))) / h
        torch.testing.assert_close(dx, right, rtol=1e-5, atol=1e-5)


# --- against the authors' package -------------------------------------------------------
@pytest.mark.parametrize("name,degree", [("hermite", 3), ("fourier", 5), ("tropical", 4), ("tropical_rational", 3)])
def test_fused_path_equals_torchortho(name, degree, eager_fused):
    import torchortho

    _, fast = twins(name, degree=degree)
    cls = {"hermite": torchortho.HermiteActivation, "fourier": torchortho.FourierActivation,
           "tropical": torchortho.TropicalActivation, "tropical_rational": torchortho.TropicalRationalActivation}[name]
    theirs = cls(degree) if name == "tropical" else cls(degree, load_cached=False)
    theirs = theirs.double()
    rename = {"frequencies": "grid"}  # torchortho's name for the Fourier frequencies
    with torch.no_grad():
        for mine, p in fast.named_parameters():
            getattr(theirs, rename.get(mine, mine)).copy_(p.reshape(getattr(theirs, rename.get(mine, mine)).shape))
    x = off_kinks(fast, torch.randn(300, dtype=D) * 2.5)
    dy = torch.randn_like(x)
    ours, their = grads_at(fast, x, dy), grads_at(theirs, x, dy)
    # torchortho's Hermite/Fourier tables are float32 even in float64 modules; parameter
    # gradients are sums over the 300 elements
    tol = 2e-6 if name in ("hermite", "fourier") else 1e-12
    with torch.no_grad():
        torch.testing.assert_close(fast(x), theirs(x), rtol=tol, atol=tol)
    torch.testing.assert_close(ours[0], their[0], rtol=tol, atol=tol)
    theirs_by_name = dict(zip([n for n, _ in theirs.named_parameters()], their[1:]))
    for (mine, _), g in zip(fast.named_parameters(), ours[1:]):
        torch.testing.assert_close(g, theirs_by_name[rename.get(mine, mine)].reshape(g.shape), rtol=tol, atol=300 * tol)


# --- the definitions issue 21 corrected ----------------------------------------------------
def test_hermite_relu_init_is_the_exact_projection():
    """c_k = E[relu(X) He_k(X)], X ~ N(0, 1), by scipy's adaptive quadrature on [0, inf)
    (where relu is smooth); 120-node Gauss-Hermite across the kink was 2.5 % off at c_8."""
    from numpy.polynomial import hermite_e
    from scipy import integrate

    m = A.create("hermite", degree=8, init="relu", impl="reference")
    for k in range(9):
        he_k = hermite_e.HermiteE.basis(k)
        want, _ = integrate.quad(lambda t: t * he_k(t) * math.exp(-t * t / 2) / math.sqrt(2 * math.pi), 0, math.inf,
                                 epsabs=1e-13, epsrel=1e-12)
        assert m.coefficients[k].item() == pytest.approx(want, rel=1e-6, abs=1e-7), k


def test_pau_defaults_to_version_a_with_the_authors_leaky_relu_coefficients():
    m = A.create("pau")
    assert m.version == "A"
    # ml-research/pau Pade.py @ c122738, "pade_optimized_leakyrelu"
    torch.testing.assert_close(m.numerator, torch.tensor([3.35583603e-02, 5.05000375e-01, 1.65343934e00,
                                                          2.01001052e00, 9.31901999e-01, 1.52424124e-01]))
    torch.testing.assert_close(m.denominator, torch.tensor([3.30847488e-06, 3.98021568e00, 5.12471206e-07,
                                                            3.01830109e-01]))


def test_meta_acon_width_is_max_r_and_c_over_r_with_two_batchnorms():
    for channels, width in ((64, 16), (1024, 64), (8, 16)):
        m = A.create("meta_acon", channels=channels)
        assert m.fc1.out_channels == width and m.bn1.num_features == width and m.bn2.num_features == channels


def test_fused_fourier_is_float64_accurate(eager_fused):
    z = torch.linspace(-100, 100, 10001, dtype=D)
    assert torch.equal(cpu.fast_cos(z), torch.cos(z))
    c, s = cpu.fast_cos_sin(z)
    assert torch.equal(c, torch.cos(z)) and torch.equal(s, torch.sin(z))


def test_apalu_float32_kernel_is_expm1_accurate_near_zero():
    """e^x - 1 was 100 % off for |x| < 6e-8 in the C++ kernel that serves float32."""
    if fused.cpu_gated.NATIVE.get() is None:
        pytest.skip("the C++ gated extension could not be built here")
    ref = A.create("apalu", impl="reference")
    x = torch.tensor([-1e-8, -3e-8, -1e-5, -0.01, -0.2, -0.34, -0.35, -0.36, -1.0, -5.0] + [-1e-7] * 16)
    dy = torch.ones_like(x)
    y = fused.cpu_gated.NATIVE.apply("apalu", x, ref.a.detach(), ref.b.detach())
    want = ref.b.item() * torch.expm1(x.double())
    assert ((y.double() - want) / want).abs().max() < 1e-6
    _, _, db = fused.cpu_gated.NATIVE.get().apalu_backward(x, dy, ref.a.detach(), ref.b.detach())
    assert db.item() == pytest.approx(torch.expm1(x.double()).sum().item(), rel=1e-6)


def test_leaderboard_footnote_says_which_source_each_row_follows(tmp_path):
    from suite.report import aggregate, tables
    from suite.report.build import definitions
    from test_aggregate import make_store

    store, _ = make_store(tmp_path / "store")
    boards = tables.leaderboards(aggregate.summarize(aggregate.load_runs(store)), definitions=definitions())
    caption = " ".join(table.caption for table in boards)
    assert boards and all("Definitions follow: " in table.caption for table in boards)
    assert "pwlu: Zhou et al. 2021" in caption and "(deviation: phase I" in caption
    assert "swish: torch's F.silu" in caption  # a row named by an alias
    assert "pau:" not in caption  # only the rows shown
