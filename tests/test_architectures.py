"""Every registered architecture, built with a learnable activation in place of its own."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import suite.architectures as arch
from suite.activations import ACTIVATIONS
from suite.activations import create as create_activation
from suite.activations.base import Activation
from suite.architectures.gpt import GatedMLP, gated_hidden
from suite.architectures.surgery import HIDDEN_ACTIVATIONS, PerCallSite
from suite.errors import SuiteError

# The learnable activation the sweep uses: PWLU, or the first learnable one registered.
LEARNABLE = next((n for n in ("pwlu", "prelu", "hermite") if n in ACTIVATIONS), None)
# The reference implementation: these tests check structure, not kernels, and must not
# pay torch.compile's first-call cost of the fused CPU kernels.
REFERENCE = {"impl": "reference"}
LEARNABLE_PARAMS = {**REFERENCE, **{"hermite": {"degree": 3}}.get(LEARNABLE, {})}
EXTRA_LEARNABLE = [n for n in ("pwlu", "prelu", "hermite") if n in ACTIVATIONS]


def test_a_learnable_activation_is_registered():
    assert LEARNABLE is not None, "suite.activations registers none of pwlu, prelu, hermite"


_LEARNABLE_MODELS: dict = {}


def learnable_model(name: str):
    """(model, report) with the learnable activation, built once per test module run."""
    if name not in _LEARNABLE_MODELS:
        torch.manual_seed(0)
        _LEARNABLE_MODELS[name] = arch.create(
            name, act=LEARNABLE, act_params=LEARNABLE_PARAMS, return_report=True
        )
    return _LEARNABLE_MODELS[name]


@pytest.fixture(scope="module", params=arch.names())
def built(request):
    """(name, relu model, learnable model, report) for every architecture.

    The ReLU model only serves for its parameter count, so it is built on the meta
    device where surgery's traced forward can run there (detection post-processing
    cannot: torch.nonzero has no meta kernel).
    """
    name = request.param
    device = "cpu" if arch.ARCHITECTURES.get(name).info["task"] == "detection" else "meta"
    with torch.device(device):
        relu = arch.create(name, act="relu", act_params=REFERENCE)
    model, report = learnable_model(name)
    return name, relu, model, report


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_no_stock_activation_is_left(built):
    name, _, model, report = built
    stock = tuple(t for t in HIDDEN_ACTIVATIONS if not issubclass(t, Activation))
    kept = {path for path, _, _ in report.kept}
    left = [path for path, m in model.named_modules() if isinstance(m, stock) and path not in kept]
    assert not left, f"{name}: stock activations left at {left[:5]}"
    assert all(reason == "gate" for _, _, reason in report.kept)
    activations = [m for m in model.modules() if isinstance(m, Activation)]
    assert activations and len(activations) == report.sites
    assert {type(m) for m in activations} == {type(create_activation(LEARNABLE, **LEARNABLE_PARAMS))}


def test_parameter_count_is_relu_model_plus_activations(built):
    name, relu, model, report = built
    per_activation = n_params(create_activation(LEARNABLE, **LEARNABLE_PARAMS))
    inserted = sum(n_params(m) for m in model.modules() if isinstance(m, Activation))
    assert per_activation > 0
    assert n_params(relu) == arch.parameter_count(name)  # the catalog's meta-device count
    assert n_params(model) == n_params(relu) + inserted
    assert inserted == report.sites * per_activation == report.params


def _tiny_input(name: str, model: nn.Module):
    info = arch.ARCHITECTURES.get(name).info
    if info["task"] == "classification":
        size = info.get("sample_size", 32)  # the Inception stems need 75 px
        return (torch.randn(1, info["input_size"][0], size, size),)
    if info["task"] == "lm":
        return (torch.randint(0, model.config.vocab_size, (1, 6)),)
    return ([torch.rand(info["input_size"][0], 64, 80)],)


def test_forward_gives_the_right_output_shape(built):
    name, _, model, _ = built
    task = arch.ARCHITECTURES.get(name).info["task"]
    inputs = _tiny_input(name, model)
    model.eval()
    resize = getattr(model, "transform", None)
    saved = (resize.min_size, resize.max_size) if resize is not None else None
    if resize is not None:  # detectors: run at 64 px instead of resizing to 800
        resize.min_size, resize.max_size = (64,), 64
    try:
        with torch.no_grad():
            out = model(*inputs)
    finally:
        if resize is not None:
            resize.min_size, resize.max_size = saved
    if task == "classification":
        if hasattr(model, "get_classifier"):  # timm
            classes = model.get_classifier().out_features
        else:  # torchvision's classifiers end in `fc`; the embedded ones default to 10 classes
            classes = model.fc.out_features if isinstance(getattr(model, "fc", None), nn.Linear) else 10
        assert out.shape == (1, classes)
    elif task == "lm":
        assert out.shape == (1, 6, model.config.vocab_size)
    else:
        assert len(out) == 1 and {"boxes", "scores", "labels"} <= set(out[0])  # Mask R-CNN adds masks
        assert out[0]["boxes"].shape[1:] == (4,)
    assert torch.isfinite(out if torch.is_tensor(out) else out[0]["scores"]).all()


def test_catalog_rows_list_every_architecture():
    rows = arch.catalog_rows()
    assert [r["name"] for r in rows] == arch.names()
    for row in rows:
        assert row["task"] in arch.TASKS and row["scale"] in arch.SCALES and row["description"]
        assert float(row["params"].rstrip("M")) > 0
    by_name = {r["name"]: r for r in rows}
    assert by_name["gpt2"]["params"] == "124.48M"
    assert by_name["resnet50"]["params"] == "25.56M"


def test_bad_names_are_one_clear_error():
    with pytest.raises(SuiteError, match="did you mean 'resnet18'"):
        arch.create("resnet19")
    with pytest.raises(SuiteError, match="activation 'nosuchact'"):
        arch.create("cnn_small", act="nosuchact")
    with pytest.raises(SuiteError, match="pretrained"):
        arch.create("resnet18", pretrained=True)
    with pytest.raises(SuiteError, match="mlp 'moe'"):
        arch.create("gpt_tiny", mlp="moe")
    assert arch.create("mobilenet_v3", act="relu", act_params=REFERENCE).__class__.__name__ == "MobileNetV3"  # alias


@pytest.mark.parametrize("act", EXTRA_LEARNABLE)
def test_each_learnable_activation_builds_resnet18(act):
    params = {**REFERENCE, **{"hermite": {"degree": 3}}.get(act, {})}
    model, report = arch.create("resnet18", act=act, act_params=params, return_report=True)
    assert report.sites == 17
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    assert all(p.grad is not None for m in model.modules() if isinstance(m, Activation) for p in m.parameters())


# ----- GPT: gated MLP and attention -----------------------------------------------------

def test_gated_mlp_option():
    d = 128
    standard = arch.create("gpt_tiny", act="gelu", act_params=REFERENCE)
    glu = arch.create("gpt_tiny", act=LEARNABLE, act_params=LEARNABLE_PARAMS, mlp="glu")
    mlp = glu.blocks[0].mlp
    assert isinstance(mlp, GatedMLP) and gated_hidden(d) == 341
    assert mlp.w_gate.weight.shape == mlp.w_up.weight.shape == (341, d)
    assert isinstance(mlp.act, type(create_activation(LEARNABLE, **LEARNABLE_PARAMS)))
    # Three matrices of 8d/3 hold about the parameters of two of 4d.
    std_mlp = n_params(standard.blocks[0].mlp)
    assert abs(n_params(mlp) - n_params(mlp.act) - std_mlp) < 4 * d
    # Gated output is act(gate) * up, projected.
    x = torch.randn(1, 3, d)
    expected = mlp.c_proj(mlp.act(mlp.w_gate(x)) * mlp.w_up(x))
    torch.testing.assert_close(mlp.eval()(x), expected)
    swiglu = arch.create("gpt_tiny", mlp="swiglu", act_params=REFERENCE)  # default act: the preset's SiLU
    assert type(swiglu.blocks[1].mlp.act) is type(create_activation("silu"))
    assert type(arch.create("gpt_tiny", mlp="geglu", act_params=REFERENCE).blocks[0].mlp.act) is type(create_activation("gelu"))
    with pytest.raises(SuiteError, match="fixes the gate to silu"):
        arch.create("gpt_tiny", act=LEARNABLE, mlp="swiglu")


def test_attention_softmax_is_untouched():
    model, report = arch.create("gpt_tiny", act=LEARNABLE, act_params=LEARNABLE_PARAMS, return_report=True)
    assert all(".mlp." in r.path for r in report.replaced) and not report.functional
    attn = model.blocks[0].attn.eval()
    x = torch.randn(2, 5, 128)
    B, T, C = x.shape
    q, k, v = (t.view(B, T, 2, C // 2).transpose(1, 2) for t in attn.c_attn(x).split(C, 2))
    scores = (q @ k.transpose(-2, -1)) / (C // 2) ** 0.5
    scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
    y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C)
    torch.testing.assert_close(attn(x), attn.c_proj(y), rtol=1e-5, atol=1e-6)


def test_gpt_ties_embeddings_and_scales_residual_init():
    model = arch.create("gpt_tiny", vocab_size=300, block_size=32, act_params=REFERENCE)
    assert model.lm_head.weight is model.wte.weight
    assert model.wpe.weight.shape == (32, 128)
    proj_std = model.blocks[0].mlp.c_proj.weight.std().item()
    assert 0.5 * 0.02 / 2 < proj_std < 1.5 * 0.02 / 2  # 0.02 / sqrt(2 * n_layer), n_layer = 2
    with pytest.raises(SuiteError, match="block_size 32"):
        model(torch.zeros(1, 33, dtype=torch.long))


# ----- one training step of the embedded variants ---------------------------------------

def _check_step(model: nn.Module, loss: torch.Tensor) -> None:
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    opt.zero_grad()
    loss.backward()
    acts = [m for m in model.modules() if isinstance(m, Activation)]
    assert all(p.grad is not None for m in acts for p in m.parameters()), "an activation got no gradient"
    opt.step()
    assert torch.isfinite(loss)
    changed = [n for n, p in model.named_parameters() if not torch.equal(before[n], p)]
    assert len(changed) > len(before) // 2


@pytest.mark.parametrize("name", ["cnn_small", "resnet_tiny"])
def test_train_step_small_classifier(name):
    model = arch.create(name, act=LEARNABLE, act_params=LEARNABLE_PARAMS, in_chans=3).train()
    x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))
    _check_step(model, F.cross_entropy(model(x), y))


def test_train_step_gpt_tiny():
    model = arch.create("gpt_tiny", act=LEARNABLE, act_params=LEARNABLE_PARAMS).train()
    idx = torch.randint(0, 256, (2, 17))
    logits = model(idx[:, :-1])
    _check_step(model, F.cross_entropy(logits.reshape(-1, 256), idx[:, 1:].reshape(-1)))


def _detection_batch(n: int, size: int, num_classes: int, channels: int = 3):
    images = [torch.rand(channels, size, size) for _ in range(n)]
    targets = [{"boxes": torch.tensor([[4.0, 6.0, 30.0, 36.0], [40.0, 20.0, 60.0, 50.0]]),
                "labels": torch.randint(1, num_classes, (2,))} for _ in range(n)]
    return images, targets


def test_train_step_retinanet_tiny():
    model = arch.create("retinanet_tiny", act=LEARNABLE, act_params=LEARNABLE_PARAMS).train()
    losses = model(*_detection_batch(2, 64, 11, channels=1))
    assert set(losses) == {"classification", "bbox_regression"}
    _check_step(model, sum(losses.values()))


# ----- paper-scale shapes: one forward + backward on the real sizes ---------------------

def test_paper_scale_resnet50_224():
    model = learnable_model("resnet50")[0].train()
    out = model(torch.randn(2, 3, 224, 224))
    assert out.shape == (2, 1000)
    F.cross_entropy(out, torch.tensor([1, 2])).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_paper_scale_gpt2_124m():
    model = learnable_model("gpt2")[0].train()
    cfg = model.config
    assert (cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.block_size, cfg.vocab_size) == (12, 12, 768, 1024, 50304)
    idx = torch.randint(0, 50257, (1, 129))
    logits = model(idx[:, :-1])
    assert logits.shape == (1, 128, 50304)
    F.cross_entropy(logits.view(-1, 50304), idx[:, 1:].reshape(-1)).backward()
    assert model.blocks[11].mlp.act is not None and all(p.grad is not None for p in model.parameters())


def test_paper_scale_retinanet_resnet50_fpn():
    model = learnable_model("retinanet_resnet50_fpn")[0].train()
    assert model.transform.min_size == (800,)  # torchvision's COCO setting is kept
    assert not any(type(m).__name__ == "FrozenBatchNorm2d" for m in model.modules())
    model.transform.min_size, model.transform.max_size = (256,), 256  # CPU-sized step
    losses = model(*_detection_batch(1, 256, 91))
    sum(losses.values()).backward()
    shared = model.backbone.body.layer1[0].relu
    assert isinstance(shared, PerCallSite) and all(p.grad is not None for p in shared.parameters())


# ----- per-channel activations get the width of their site ------------------------------

PER_CHANNEL = next(
    (n for n in ("pwlu", "prelu", *ACTIVATIONS.names())
     if n in ACTIVATIONS and ACTIVATIONS.get(n).info.get("per_channel") and ACTIVATIONS.get(n).info.get("learnable")),
    None,
)


def test_per_channel_activations_get_each_sites_width():
    if PER_CHANNEL is None:
        pytest.skip("no learnable per-channel activation is registered yet")
    params = {**REFERENCE, **{"hermite": {"degree": 3}}.get(PER_CHANNEL, {})}
    model = arch.create("resnet_tiny", act=PER_CHANNEL, act_params={**params, "per_channel": True})
    widths = {"stem.2": 32, "blocks.0.act1": 32, "blocks.1.act1": 64, "blocks.2.act2": 128}
    for path, width in widths.items():
        expected = n_params(create_activation(PER_CHANNEL, channels=width, **params))
        assert n_params(model.get_submodule(path)) == expected
    assert n_params(model.get_submodule("blocks.2.act2")) > n_params(create_activation(PER_CHANNEL, **params))
    model(torch.randn(2, 1, 8, 8)).sum().backward()


def test_per_channel_is_refused_where_it_cannot_apply():
    with pytest.raises(SuiteError, match="no per-channel variant"):
        arch.create("cnn_small", act="relu", act_params={"per_channel": True})
    with pytest.raises(SuiteError, match="last dimension"):  # GPT widths are the last dim
        arch.create("gpt_tiny", act="prelu", act_params={"per_channel": True})
