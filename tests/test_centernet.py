"""CenterNet-tiny, the embedded board's detector: targets, decoding and a training step.

The decoding test builds the network's outputs by hand from the paper's definitions (a
peak of the class heatmap at the object's centre cell, the box size in cells and the
centre's sub-cell offset there) and checks that COCOeval scores the decoded boxes as
perfect; the loss test checks that the same outputs give zero regression loss.
"""
from __future__ import annotations

import pytest
import torch

import suite.architectures as arch
from suite.activations.base import Activation
from suite.architectures.centernet import STRIDE, CenterNetTiny
from suite.data.digits import quiet_coco  # noqa: F401  (pycocotools import check)
from suite.tasks.detection import coco_map

BOXES = [  # (x1, y1, x2, y2) on a 64 px canvas, label 1..10
    [([5.0, 7.0, 21.0, 27.0], 3), ([30.0, 33.5, 47.0, 60.0], 10)],
    [([40.0, 2.0, 58.0, 17.0], 1)],
]


def _targets():
    return [{"boxes": torch.tensor([b for b, _ in image]), "labels": torch.tensor([lab for _, lab in image])}
            for image in BOXES]


def _perfect_outputs(num_classes: int = 11, cells: int = 64 // STRIDE):
    """Heatmap logits and box maps a perfect CenterNet would give for BOXES."""
    heat = torch.full((len(BOXES), num_classes - 1, cells, cells), -20.0)
    box = torch.zeros(len(BOXES), 4, cells, cells)
    for i, image in enumerate(BOXES):
        for (x1, y1, x2, y2), label in image:
            cx, cy = (x1 + x2) / 2 / STRIDE, (y1 + y2) / 2 / STRIDE
            col, row = int(cx), int(cy)
            heat[i, label - 1, row, col] = 20.0
            box[i, :, row, col] = torch.tensor([(x2 - x1) / STRIDE, (y2 - y1) / STRIDE, cx - col, cy - row])
    return heat, box


def _coco_ground_truth():
    from pycocotools.coco import COCO

    images, anns = [], []
    for i, image in enumerate(BOXES, start=1):
        images.append({"id": i, "width": 64, "height": 64})
        for (x1, y1, x2, y2), label in image:
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": label, "iscrowd": 0,
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1)})
    coco = COCO()
    coco.dataset = {"images": images, "annotations": anns, "categories": [{"id": c} for c in range(1, 11)]}
    coco.createIndex()
    return coco


def test_decoding_a_perfect_output_scores_map_one():
    model = CenterNetTiny().eval()
    heat, box = _perfect_outputs()
    detections = model._decode(heat, box, (64, 64))
    for image, found in zip(BOXES, detections):
        confident = found["scores"] > 0.5
        assert confident.sum() == len(image)
        got = sorted(zip(found["boxes"][confident].tolist(), found["labels"][confident].tolist()))
        for (want_box, want_label), (got_box, got_label) in zip(sorted(image), got):
            assert got_label == want_label
            assert got_box == pytest.approx(want_box, abs=1e-4)
    results = [
        {"image_id": i, "category_id": int(label), "score": float(score),
         "bbox": [x1, y1, x2 - x1, y2 - y1]}
        for i, found in enumerate(detections, start=1)
        for (x1, y1, x2, y2), score, label in zip(found["boxes"].tolist(), found["scores"], found["labels"])
    ]
    assert coco_map(_coco_ground_truth(), results) == {"map": pytest.approx(1.0), "map50": pytest.approx(1.0)}


def test_losses_of_a_perfect_output():
    model = CenterNetTiny().train()
    heat, box = _perfect_outputs()
    losses = model._losses(heat, box, _targets())
    assert set(losses) == {"heatmap", "size", "offset"}
    assert losses["size"].item() == pytest.approx(0.0, abs=1e-6)
    assert losses["offset"].item() == pytest.approx(0.0, abs=1e-6)
    # Focal loss: ~0 at the peaks; elsewhere the Gaussian splat and 1e-9 probabilities keep it tiny.
    assert 0 <= losses["heatmap"].item() < 1e-3
    wrong = heat.clone()
    wrong[0, 2] = -wrong[0, 2]  # label 3's channel: peak missed, every other cell claimed
    assert model._losses(wrong, box, _targets())["heatmap"].item() > 100


def test_heatmap_target_is_a_unit_peak_per_object():
    """Through the gradient: at logit 0, the focal loss pulls only the centre cells upwards."""
    model = CenterNetTiny().train()
    heat = torch.zeros(len(BOXES), 10, 16, 16, requires_grad=True)
    model._losses(heat, torch.zeros(len(BOXES), 4, 16, 16), _targets())["heatmap"].backward()
    pulled_up = (heat.grad < 0).nonzero().tolist()
    want = sorted([i, label - 1, int((y1 + y2) / 2 / STRIDE), int((x1 + x2) / 2 / STRIDE)]
                  for i, image in enumerate(BOXES) for (x1, y1, x2, y2), label in image)
    assert sorted(pulled_up) == want


def test_every_activation_is_swapped_and_trains():
    model, report = arch.create("centernet_tiny", act="pwlu", return_report=True)
    model.train()
    stock = [m for m in model.modules() if isinstance(m, torch.nn.ReLU)]
    assert not stock, "a stock ReLU was left in centernet_tiny"
    acts = [m for m in model.modules() if isinstance(m, Activation)]
    assert len(acts) >= 9  # stem, 3 blocks x 2, 2 heads
    images = [torch.rand(1, 64, 64) for _ in BOXES]
    losses = model(images, _targets())
    total = sum(losses.values())
    total.backward()
    assert torch.isfinite(total)
    assert all(p.grad is not None for m in acts for p in m.parameters())


def test_learns_the_canvases(tmp_path):
    """60 steps on digit canvases lower the loss and give a non-zero mAP (the board trains 200)."""
    from suite.data import load
    from suite.tasks.detection import collate

    torch.manual_seed(0)
    data = load("digits-detection", tmp_path, n_train=300, n_val=40)
    model = arch.create("centernet_tiny", act="relu", num_classes=data.num_classes).train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    first = None
    for step in range(60):
        images, targets = collate([data.train[(step * 16 + i) % len(data.train)] for i in range(16)])
        loss = sum(model(list(images), list(targets)).values())
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first / 3
    model.eval()
    with torch.no_grad():
        images, targets = collate([data.val[i] for i in range(len(data.val))])
        out = model(list(images))
    results = [{"image_id": int(t["image_id"]), "category_id": int(label), "score": float(score),
                "bbox": [x1, y1, x2 - x1, y2 - y1]}
               for t, found in zip(targets, out)
               for (x1, y1, x2, y2), score, label in zip(found["boxes"].tolist(), found["scores"], found["labels"])]
    assert coco_map(data.val_coco, results)["map50"] > 0.05
