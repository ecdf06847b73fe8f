"""The architectures the published tables name (ACON, Swish, PWLU's COCO): each builds
without weights, takes a tiny input, and after surgery holds no stock activation and no
functional one, under the activation it was asked for."""
from __future__ import annotations

import pytest
import torch

import suite.architectures as arch
from suite.activations.base import Activation
from suite.architectures.surgery import HIDDEN_ACTIVATIONS
from suite.errors import SuiteError

PAPER_CLASSIFIERS = ["shufflenet_v2_x0_5", "shufflenet_v2_x1_5", "resnet101", "resnet152",
                     "mobilenetv1_100", "inception_v3", "inception_v4", "inception_resnet_v2"]
STOCK = tuple(t for t in HIDDEN_ACTIVATIONS if not issubclass(t, Activation))


def _check_surgery(name, model, report):
    kept = {path for path, _, _ in report.kept}
    left = [p for p, m in model.named_modules() if isinstance(m, STOCK) and p not in kept]
    assert not left, f"{name}: stock activations left at {left[:5]}"
    assert not report.functional, f"{name}: functional activations left: {report.functional}"
    swapped = [m for m in model.modules() if isinstance(m, Activation)]
    assert swapped and len(swapped) == report.sites
    assert {type(m).__name__ for m in swapped} == {"PReLU"}


@pytest.mark.parametrize("name", PAPER_CLASSIFIERS)
def test_paper_classifier_builds_and_surgery_leaves_no_stock_activation(name):
    torch.manual_seed(0)
    model, report = arch.create(name, act="prelu", num_classes=7, return_report=True)
    _check_surgery(name, model, report)
    size = arch.ARCHITECTURES.get(name).info["sample_size"]
    with torch.no_grad():
        out = model.eval()(torch.randn(1, 3, size, size))
    assert out.shape == (1, 7) and torch.isfinite(out).all()


def test_mask_rcnn_builds_with_module_box_head_and_keeps_masks():
    torch.manual_seed(0)
    model, report = arch.create("maskrcnn_resnet50_fpn", act="prelu", num_classes=3, return_report=True)
    _check_surgery("maskrcnn_resnet50_fpn", model, report)
    # the two box-head ReLUs torchvision calls functionally are now swapped modules
    assert isinstance(model.roi_heads.box_head.act6, Activation)
    model.eval().transform.min_size, model.transform.max_size = (64,), 64
    with torch.no_grad():
        out = model([torch.rand(3, 64, 80)])
    assert {"boxes", "labels", "scores", "masks"} <= set(out[0])


def test_shufflenet_refuses_grey_input_with_one_clear_error():
    with pytest.raises(SuiteError, match="in_chans=1 is not accepted for 'shufflenet_v2_x0_5'"):
        arch.create("shufflenet_v2_x0_5", act="relu", num_classes=3, in_chans=1)


def test_mask_rcnn_refuses_targets_without_masks_with_one_clear_error():
    model = arch.create("maskrcnn_resnet50_fpn", act="relu", num_classes=3).train()
    target = {"boxes": torch.tensor([[1.0, 1.0, 20.0, 20.0]]), "labels": torch.tensor([1])}
    with pytest.raises(SuiteError, match="needs 'masks'.*a target gave only boxes, labels"):
        model([torch.rand(3, 64, 64)], [target])
