"""COCO instance masks for Mask R-CNN: decoded from polygons and RLE, flipped with their boxes,
loaded only for a mask-needing architecture, and one shrunk Mask R-CNN cell end to end."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from suite import data
from suite.cell import Cell
from suite.errors import SuiteError

W, H = 48, 40
# Image 1: a polygon square, a polygon triangle, an RLE crowd (dropped, as for boxes).
# Image 2: one object given as a non-crowd RLE. Image 3: no annotation at all.
SQUARE = [4, 6, 20, 6, 20, 22, 4, 22]
TRIANGLE = [26, 4, 44, 4, 26, 30]


def _rle_block(x0, y0, x1, y1) -> dict:
    block = np.zeros((H, W), np.uint8)
    block[y0:y1, x0:x1] = 1
    rle = mask_utils.encode(np.asfortranarray(block))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def _write_coco(root, *, segmentation=True):
    from PIL import Image

    base = root / "coco"
    rng = np.random.default_rng(0)
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 18, "bbox": [4, 6, 16, 16], "area": 256, "iscrowd": 0,
         "segmentation": [SQUARE]},
        {"id": 2, "image_id": 1, "category_id": 90, "bbox": [26, 4, 18, 26], "area": 234, "iscrowd": 0,
         "segmentation": [TRIANGLE]},
        {"id": 3, "image_id": 1, "category_id": 18, "bbox": [0, 30, 48, 10], "area": 480, "iscrowd": 1,
         "segmentation": _rle_block(0, 30, 48, 40)},
        {"id": 4, "image_id": 2, "category_id": 90, "bbox": [10, 12, 20, 14], "area": 280, "iscrowd": 0,
         "segmentation": _rle_block(10, 12, 30, 26)},
    ]
    if not segmentation:
        for a in annotations:
            del a["segmentation"]
    for split in ("train", "val"):
        (base / f"{split}2017").mkdir(parents=True)
        for i in (1, 2, 3):
            pixels = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(base / f"{split}2017" / f"{i:012d}.png")
        coco = {
            "images": [{"id": i, "width": W, "height": H, "file_name": f"{i:012d}.png"} for i in (1, 2, 3)],
            "annotations": annotations,
            "categories": [{"id": 18, "name": "dog"}, {"id": 90, "name": "toothbrush"}],
        }
        (base / "annotations").mkdir(exist_ok=True)
        (base / "annotations" / f"instances_{split}2017.json").write_text(json.dumps(coco))


def _polygon_mask(poly) -> np.ndarray:
    rle = mask_utils.merge(mask_utils.frPyObjects([poly], H, W))
    return mask_utils.decode(rle)


def test_masks_follow_the_polygons_and_rle_and_drop_the_crowd(tmp_path):
    _write_coco(tmp_path)
    bundle = data.load("coco", tmp_path, masks=True)
    assert bundle.masks and len(bundle.train) == 2  # image 3 has no box, image 2 a non-crowd RLE
    by_id = {}
    for index in range(len(bundle.train)):
        torch.manual_seed(1)  # this seed's first draw does not flip (checked below by the boxes)
        image, target = bundle.train[index]
        by_id[target["image_id"]] = target
    one, two = by_id[1], by_id[2]
    assert one["boxes"].tolist() == [[4, 6, 20, 22], [26, 4, 44, 30]]  # unflipped
    assert one["masks"].dtype == torch.uint8 and one["masks"].shape == (2, H, W)
    assert np.array_equal(one["masks"][0].numpy(), _polygon_mask(SQUARE))
    assert np.array_equal(one["masks"][1].numpy(), _polygon_mask(TRIANGLE))
    assert one["masks"][0].sum() >= 15 * 15 and one["masks"][:, 30:].sum() == 0  # the crowd is not an instance
    expected = np.zeros((H, W), np.uint8)
    expected[12:26, 10:30] = 1
    assert two["masks"].shape == (1, H, W) and np.array_equal(two["masks"][0].numpy(), expected)
    # validation targets carry no masks (COCOeval reads the json), and a boxes-only load none at all
    assert "masks" not in bundle.val[0][1]
    plain = data.load("coco", tmp_path)
    assert not plain.masks and "masks" not in plain.train[0][1]


def test_flipped_masks_stay_on_their_boxes(tmp_path):
    _write_coco(tmp_path)
    bundle = data.load("coco", tmp_path, masks=True)
    index = next(i for i in range(len(bundle.train)) if bundle.train.image_ids[i] == 1)
    flips = 0
    for seed in range(12):
        torch.manual_seed(seed)
        image, target = bundle.train[index]
        boxes, masks = target["boxes"], target["masks"]
        flipped = boxes[0, 0].item() != 4
        flips += flipped
        for box, mask in zip(boxes.tolist(), masks):
            ys, xs = np.nonzero(mask.numpy())
            # the mask's extent is its box's (pycocotools rasterises the polygon's edge pixels in)
            assert abs(xs.min() - box[0]) <= 1 and abs(xs.max() + 1 - box[2]) <= 1
            assert abs(ys.min() - box[1]) <= 1 and abs(ys.max() + 1 - box[3]) <= 1
        if flipped:
            assert np.array_equal(masks[0].numpy(), _polygon_mask(SQUARE)[:, ::-1])
    assert 0 < flips < 12


def test_an_image_without_annotations_has_an_empty_mask_stack(tmp_path):
    _write_coco(tmp_path)
    from suite.data.coco import CocoDetection

    bundle = data.load("coco", tmp_path, masks=True)
    val_with_masks = CocoDetection(tmp_path / "coco" / "val2017", bundle.val_coco, {18: 1, 90: 2}, train=False,
                                   masks=True)
    image, target = val_with_masks[val_with_masks.image_ids.index(3)]
    assert target["boxes"].shape == (0, 4) and target["masks"].shape == (0, H, W)


def test_annotations_without_segmentation_are_one_clear_error_only_when_masks_are_asked(tmp_path):
    _write_coco(tmp_path, segmentation=False)
    assert not data.load("coco", tmp_path).masks  # boxes-only detectors do not need them
    with pytest.raises(SuiteError, match=r"3 non-crowd annotation\(s\) without a 'segmentation' \(ids 1, 2, 4\)"):
        data.load("coco", tmp_path, masks=True)


def test_mask_rcnn_on_a_data_set_without_masks_is_one_clear_error(tmp_path):
    from suite.tasks import run_cell

    cell = Cell(activation="relu", arch="maskrcnn_resnet50_fpn", task="detection", dataset="digits-detection",
                recipe="smoke")
    with pytest.raises(SuiteError, match="'maskrcnn_resnet50_fpn' trains on instance masks.*'digits-detection'"):
        run_cell(cell, tmp_path / "work", data_root=tmp_path, progress=False)


# 48 px images and few proposals/detections: the R50-FPN network is the paper's, only its
# resize and its RPN/ROI sampling are shrunk so that a CPU runs the cell in seconds.
SHRUNK = {"min_size": 48, "max_size": 48, "rpn_pre_nms_top_n_train": 64, "rpn_post_nms_top_n_train": 64,
          "rpn_pre_nms_top_n_test": 32, "rpn_post_nms_top_n_test": 32, "box_batch_size_per_image": 32,
          "box_detections_per_img": 10}


def test_a_shrunk_mask_rcnn_cell_trains_on_coco_masks_end_to_end(tmp_path):
    from suite.launch.attempt import run_and_record
    from suite.store import Store

    _write_coco(tmp_path)
    store = Store(tmp_path / "store")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the executor runs each cell
    try:
        cell = Cell(activation="relu", arch="maskrcnn_resnet50_fpn", task="detection", dataset="coco",
                    recipe="coco-maskrcnn",
                    recipe_overrides={"steps": 2, "batch_size": 2, "eval_batch_size": 3, "num_workers": 0,
                                      "warmup_steps": 0, "eval_every": 2, "checkpoint_every": 2, "log_every": 1,
                                      "model_kwargs": SHRUNK})
        run_and_record(cell, store, executor={"kind": "test"}, data_root=str(tmp_path), progress=False)
    finally:
        torch.set_num_threads(threads)
    [record] = store.records_of("train", cell.id)
    assert record["status"] == "done", record.get("error")
    assert record["steps"] == 2 and set(record["metrics"]) == {"map", "map50"}
    assert all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in record["metrics"].values())
