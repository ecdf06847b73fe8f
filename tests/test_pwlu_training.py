"""PWLU trained as its paper trains it (issue 21 item 1, issue 23 items 1 and 4): learned
bounds (gradients on the reference, the C++ kernel and the Triton kernel under its
interpreter), a running std, phase I as 5 % of training in every recipe, statistics pooled
across DDP ranks, and an embedded run whose bounds move after realignment."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import pytest
import torch

import suite.activations as A
from suite.activations import fused, phases
from suite.activations.fused import cpu_pwlu
from suite.activations.pwlu import PWLU
from suite.cell import Cell
from suite.tasks import recipes, run_cell

needs_extension = pytest.mark.skipif(cpu_pwlu.extension() is None, reason="the C++ PWLU kernel cannot be built here")


def unit(impl, regions=16, channels=None, seed=0, bounds=(-2.0, 3.0)):
    torch.manual_seed(seed)
    m = A.create("pwlu", regions=regions, channels=channels, bounds=bounds, impl=impl).double()
    with torch.no_grad():
        m.heights.add_(0.3 * torch.randn_like(m.heights))
        m.left_slope.fill_(-0.2)
        m.right_slope.fill_(1.3)
    return m


def bound_gradients_by_formula(m, x, dy):
    """The paper's bounds gradient, written independently of both implementations: moving
    B_R stretches the grid by u/N at each point, so dy/dB_R = -(dy/dx) w and
    dy/dB_L = -(dy/dx) (1 - w) with w = clamp((x - B_L) / (B_R - B_L), 0, 1)."""
    left, right = (b.detach().reshape(-1, *[1] * (x.dim() - 2)) if m.channels else b.detach()
                   for b in (m.left_bound, m.right_bound))
    xr = x.detach().requires_grad_()
    (dx,) = torch.autograd.grad(m.reference_forward(xr), xr, dy)
    w = ((x.detach() - left) / (right - left)).clamp(0, 1)
    dims = [d for d in range(x.dim()) if d != 1] if m.channels else list(range(x.dim()))
    return -(dx * (1 - w)).sum(dims), -(dx * w).sum(dims)


@pytest.mark.parametrize("impl", ["reference", pytest.param("fused", marks=needs_extension)])
@pytest.mark.parametrize("regions,channels", [(16, None), (16, 3), (40, 3)])  # 40: the scalar C++ form
def test_bound_gradients_follow_the_formula(impl, regions, channels):
    m = unit(impl, regions, channels)
    x = torch.randn(4, 3, 50, dtype=torch.float64) * 2.5
    dy = torch.randn_like(x)
    g_left, g_right = torch.autograd.grad(m(x), [m.left_bound, m.right_bound], dy)
    want_left, want_right = bound_gradients_by_formula(m, x, dy)
    torch.testing.assert_close(g_left.reshape(-1), want_left.reshape(-1), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(g_right.reshape(-1), want_right.reshape(-1), rtol=1e-10, atol=1e-10)
    assert g_left.abs().min() > 1e-3 and g_right.abs().min() > 1e-3  # a real gradient, not an empty one


@needs_extension
@pytest.mark.parametrize("regions,channels", [(8, None), (16, 3), (40, 2)])
def test_float64_gradcheck_of_the_fused_path_bounds_included(regions, channels):
    m = unit("fused", regions, channels, seed=1)
    names = [n for n, _ in m.named_parameters()]
    assert {"left_bound", "right_bound"} <= set(names)
    x = (torch.randn(2, channels or 3, 13, dtype=torch.float64) * 2.5).requires_grad_()
    assert fused.lookup("pwlu", x, module=m) is not None  # the C++ kernel runs, not the reference

    def f(x, *params):
        return torch.func.functional_call(m, dict(zip(names, params)), (x,))

    assert torch.autograd.gradcheck(f, (x, *[p.detach().clone().requires_grad_() for p in m.parameters()]))


def test_pwlu_fixed_keeps_its_bounds_out_of_the_parameters():
    fixed = A.create("pwlu_fixed", channels=3)
    learned = A.create("pwlu", channels=3)
    assert "left_bound" in dict(learned.named_parameters()) and "left_bound" not in dict(fixed.named_parameters())
    assert "left_bound" in dict(fixed.named_buffers()) and not fixed.learn_bounds
    assert A.ACTIVATIONS.get("pwlu_fixed").name == "pwlu_fixed"  # its own leaderboard row
    fixed.begin_statistics()
    fixed(torch.randn(64, 3, 5) * 2 + 1)
    fixed.realign()
    torch.testing.assert_close(fixed.left_bound, torch.full((3,), 1.0 - 3 * 2.0), atol=0.6, rtol=0)  # mean - 3 std
    assert not fixed.left_bound.requires_grad


def test_phase_one_keeps_a_running_std_with_the_papers_momentum():
    m = PWLU(channels=2, impl="reference").double()
    assert m.momentum == 0.9 and m.sigmas == 3.0
    m.begin_statistics()
    a = torch.randn(16, 2, 9, dtype=torch.float64) * 2 + 1
    b = torch.randn(16, 2, 9, dtype=torch.float64) * 0.5 - 1
    m(a), m(b)
    std = lambda t: t.transpose(0, 1).reshape(2, -1).std(1, unbiased=False)  # noqa: E731
    mean = lambda t: t.transpose(0, 1).reshape(2, -1).mean(1)  # noqa: E731
    torch.testing.assert_close(m.running_std, 0.9 * std(a) + 0.1 * std(b))  # not sqrt of a running variance
    torch.testing.assert_close(m.running_mean, 0.9 * mean(a) + 0.1 * mean(b))
    m.realign()
    torch.testing.assert_close(m.right_bound.detach(), m.running_mean + 3 * m.running_std)


def test_a_checkpoint_with_a_running_variance_loads_as_a_std():
    m = PWLU(impl="reference")
    state = m.state_dict()
    state.pop("running_std")
    state["running_var"] = torch.tensor([4.0])
    m.load_state_dict(state)
    assert m.running_std.item() == 2.0


def test_phase_one_lasts_five_percent_of_training_by_default_and_five_imagenet_epochs():
    model = torch.nn.Sequential(A.create("pwlu"), torch.nn.Linear(3, 3), A.create("pwlu", channels=3))
    assert phases.statistics_steps(model, 1000, 10) == 50
    assert phases.statistics_steps(model, 7, 10) == 1  # a shrunk trial still realigns
    imagenet = recipes.get_recipe("classification", "pwlu-imagenet")
    steps_per_epoch = 1_281_167 // imagenet.batch_size  # ILSVRC-2012 train images
    total = imagenet.total_steps(steps_per_epoch)
    assert phases.statistics_steps(model, total, steps_per_epoch) == 5 * steps_per_epoch
    assert phases.statistics_steps(torch.nn.Sequential(A.create("pwlu", statistics="2ep")), 1000, 30) == 60
    assert phases.statistics_steps(torch.nn.Sequential(A.create("pwlu", statistics=0)), 1000, 30) == 0
    assert phases.statistics_steps(torch.nn.Sequential(torch.nn.ReLU()), 1000, 30) == 0


@pytest.mark.parametrize("task,recipe", [(t, r) for (t, r) in recipes.RECIPES])
def test_every_recipe_runs_phase_one(task, recipe):
    """The statistics phase is no recipe's to forget (it was off in the ConvNeXt, GPT-2
    and COCO recipes): a recipe has no field for it, so it always runs."""
    assert "pwlu_stats_steps" not in recipes.Recipe.model_fields
    r = recipes.get_recipe(task, recipe)
    total = r.total_steps(100)
    assert phases.statistics_steps(torch.nn.Sequential(A.create("pwlu")), total, 100) == max(1, round(0.05 * total))


def test_statistics_pool_across_ranks_as_one_data_set():
    """What realign does with an all_reduce: each rank's (mean, std) describe its share of
    equal size; the pooled ones are those of all the data (checked here without processes,
    the all_reduce summing what the two ranks send)."""
    torch.manual_seed(0)
    data = [torch.randn(4000, 2, dtype=torch.float64) * s + c for s, c in ((1.0, 0.5), (2.0, -1.0))]
    ranks = [PWLU(channels=2, impl="reference").double() for _ in data]
    sent = []
    for m, d in zip(ranks, data):
        m.running_mean.copy_(d.mean(0))
        m.running_std.copy_(d.std(0, unbiased=False))
        m._pool_statistics(lambda t: sent.append(t.clone()))
    total = sent[0] + sent[1]
    for m in ranks:
        m.running_mean.zero_(), m.running_std.zero_()
        m.realign(all_reduce=lambda t: t.copy_(total))
        everything = torch.cat(data)
        torch.testing.assert_close(m.running_mean, everything.mean(0))
        torch.testing.assert_close(m.running_std, everything.std(0, unbiased=False))
    torch.testing.assert_close(ranks[0].left_bound, ranks[1].left_bound, rtol=0, atol=0)


def test_an_ema_copy_takes_the_realigned_units_whole():
    from timm.utils import ModelEmaV3

    model = torch.nn.Sequential(torch.nn.Linear(4, 3), A.create("pwlu", channels=3))
    ema = ModelEmaV3(model, decay=0.9999)
    phases.begin_statistics(model)
    model(torch.randn(64, 4) * 5 + 2)
    phases.realign(model)
    assert phases.copy_realigned(model, ema.module) == 1
    for name, value in model[1].state_dict().items():
        assert torch.equal(ema.module[1].state_dict()[name], value), name
    assert not ema.module[1].collecting


def test_ddp_is_told_to_leave_each_ranks_statistics_alone():
    """DDP broadcasts rank 0's buffers before every forward; the statistics buffers must be
    on its ignore list (by their full names) from phase I on, or ranks pool rank 0's."""
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 1), A.create("pwlu", channels=3), A.create("pwlu"))
    phases.begin_statistics(model)
    ignored = set(model._ddp_params_and_buffers_to_ignore)
    assert ignored == {f"{i}.{b}" for i in (1, 2) for b in ("running_mean", "running_std", "statistics_batches")}
    assert ignored <= set(dict(model.named_buffers()))


def _ddp_worker(rank, world, port, root, work, queue):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    import torch.distributed as dist

    import suite.tasks.loop as loop

    seen = {}
    realign = phases.realign

    def watched(model):  # each rank's own statistics before pooling, the bounds after
        units = [m for m in model.modules() if isinstance(m, PWLU)]
        # plain lists: tensors would travel through shared memory that dies with the process
        seen["own"] = [(m.running_mean.tolist(), m.running_std.tolist()) for m in units]
        out = realign(model)
        seen["realigned"] = [m.left_bound.tolist() for m in units]
        return out

    phases.realign = watched
    train = loop.train

    def capture(adapter, model, *args, **kwargs):
        result = train(adapter, model, *args, **kwargs)
        seen["final"] = {f"{name}.{k}": v.tolist() for name, m in model.named_modules() if isinstance(m, PWLU)
                         for k, v in m.state_dict().items()}
        return result

    loop.train = capture
    cell = Cell(activation="pwlu", act_params={"per_channel": True, "statistics": 0.25}, arch="cnn_small",
                task="classification", dataset="digits", recipe="smoke",
                recipe_overrides={"steps": 12, "checkpoint_every": 0, "eval_every": 0}, seed=2)
    result = run_cell(cell, work, data_root=root, progress=False)
    queue.put((rank, result["statistics_phase"], seen))
    dist.destroy_process_group()


@pytest.mark.slow  # two spawned processes importing torch: about 2 minutes on a loaded 2-core machine
def test_two_gloo_ranks_end_with_identical_pwlu_state(tmp_path):
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.start_processes(_ddp_worker, args=(2, port, str(tmp_path / "data"), str(tmp_path / "work"), queue),
                       nprocs=2, start_method="spawn")
    (_, phase0, seen0), (_, phase1, seen1) = sorted((queue.get() for _ in range(2)), key=lambda r: r[0])
    assert phase0 == phase1 == {"modules": 3, "steps": 3}
    # each rank collected its own statistics (DDP did not overwrite them with rank 0's) ...
    assert any(a[0] != b[0] for a, b in zip(seen0["own"], seen1["own"]))
    # ... and both realigned to the pooled ones
    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    for (m0, s0), (m1, s1), b0, b1 in zip(seen0["own"], seen1["own"], seen0["realigned"], seen1["realigned"]):
        m0, s0, m1, s1 = map(t, (m0, s0, m1, s1))
        mean = (m0 + m1) / 2
        std = ((s0**2 + m0**2 + s1**2 + m1**2) / 2 - mean**2).sqrt()
        torch.testing.assert_close(t(b0), mean - 3 * std, rtol=1e-5, atol=1e-5)
        assert b1 == b0
    assert seen0["final"].keys() == seen1["final"].keys() and any("bound" in k for k in seen0["final"])
    for key in seen0["final"]:
        assert seen0["final"][key] == seen1["final"][key], key  # every parameter and buffer, exactly


def test_the_embedded_recipe_learns_the_bounds_after_realign(tmp_path, monkeypatch):
    """The issue's acceptance run, shortened: a PWLU ResNet trained by the embedded recipe
    realigns after phase I and then moves its bounds."""
    torch.set_num_threads(1)
    realigned = {}
    realign = phases.realign

    def watched(model):
        out = realign(model)
        realigned.update({name: (m.left_bound.detach().clone(), m.right_bound.detach().clone())
                          for name, m in model.named_modules() if isinstance(m, PWLU)})
        return out

    monkeypatch.setattr(phases, "realign", watched)
    cell = Cell(activation="pwlu", arch="resnet_tiny", task="classification", dataset="digits", recipe="embedded",
                recipe_overrides={"epochs": None, "steps": 40, "eval_every": 0, "checkpoint_every": 0}, seed=0)
    result = run_cell(cell, tmp_path, data_root=tmp_path / "data", progress=False)
    assert result["status"] == "done" and result["statistics_phase"]["steps"] == 2  # 5 % of 40
    assert realigned, "phase I never ended"
    final = torch.load(tmp_path / "final.pt", weights_only=False)["state_dict"]
    moved = []
    for name, (left, right) in realigned.items():
        moved.append(max((final[f"{name}.left_bound"] - left).abs().max().item(),
                         (final[f"{name}.right_bound"] - right).abs().max().item()))
    assert min(moved) > 1e-3, moved  # every unit's bounds were trained in phase II


TRITON_SCRIPT = textwrap.dedent("""
    import sys, torch
    sys.path.insert(0, {tests!r})
    from test_pwlu_training import unit, bound_gradients_by_formula
    from suite.activations.fused import cuda
    for channels in (None, 3):
        m = unit("reference", 16, channels).float()
        x = torch.randn(2, 3, 1500) * 2.5
        dy = torch.randn_like(x)
        y = cuda.PWLUTriton.apply(x, m.heights, m.left_bound, m.right_bound, m.left_slope, m.right_slope,
                                  channels is not None)
        g_left, g_right = torch.autograd.grad(y, [m.left_bound, m.right_bound], dy)
        want_left, want_right = bound_gradients_by_formula(m.double(), x.double(), dy.double())
        m.float()
        for a, b in ((g_left, want_left), (g_right, want_right)):
            torch.testing.assert_close(a.double().reshape(-1), b.reshape(-1), rtol=1e-4, atol=1e-3)
    print("bounds ok")
""")


def test_triton_kernel_bound_gradients_in_the_interpreter():
    pytest.importorskip("triton")
    script = TRITON_SCRIPT.format(tests=os.path.dirname(__file__))
    out = subprocess.run([sys.executable, "-c", script], env={**os.environ, "TRITON_INTERPRET": "1"},
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and out.stdout.strip().endswith("bounds ok"), (out.stdout[-2000:], out.stderr[-3000:])
