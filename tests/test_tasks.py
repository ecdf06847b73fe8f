"""Tasks: each trains and evaluates one cell and returns the documented record fields.

The loop, checkpoints and metrics do not depend on which network trains, so most tests
use the tiny stand-in models of tests/tiny_models.py; ``test_real_architectures_*`` runs
the registered embedded architectures end to end.
"""
from __future__ import annotations

import math

import pytest
import torch

import tiny_models
from suite.cell import Cell
from suite.errors import SuiteError
from suite.tasks import catalog_rows, recipes, run_cell

DATASET = {"classification": "digits", "lm": "local-text", "detection": "digits-detection"}
RESULT_KEYS = {"status", "metrics", "history", "steps", "wall_time_s", "throughput", "resumed_from_step",
               "params", "activation_shapes", "checkpoint"}
METRICS = {"classification": {"top1", "top5", "loss"}, "lm": {"val_loss", "perplexity"},
           "detection": {"map", "map50"}}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


@pytest.fixture(autouse=True)
def tiny(monkeypatch):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the executor runs each cell; also makes CPU results repeatable
    tiny_models.use_tiny_models(monkeypatch)
    yield
    torch.set_num_threads(threads)


def cell(task, activation="relu", recipe="smoke", seed=0, **overrides):
    return Cell(activation=activation, arch="tiny", task=task, dataset=DATASET[task], recipe=recipe,
                recipe_overrides=overrides, seed=seed)


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory, data_root):
    """One smoke run per task and activation, shared by the tests below."""
    mp = pytest.MonkeyPatch()
    tiny_models.use_tiny_models(mp)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = {}
    try:
        for task in ("classification", "lm", "detection"):
            for act in ("relu", "learnable"):
                work = tmp_path_factory.mktemp(f"{task}-{act}")
                out[task, act] = (run_cell(cell(task, act), work, data_root=data_root, progress=act == "relu"), work)
    finally:
        mp.undo()
        torch.set_num_threads(threads)
    return out


@pytest.mark.parametrize("task", ["classification", "lm", "detection"])
def test_smoke_recipe_returns_the_documented_fields(smoke_results, task):
    result, work = smoke_results[task, "learnable"]
    assert RESULT_KEYS <= set(result)
    assert result["status"] == "done" and result["resumed_from_step"] is None
    assert set(result["metrics"]) == METRICS[task]
    assert all(math.isfinite(v) for v in result["metrics"].values())
    assert result["steps"] == recipes.get_recipe(task, "smoke").steps
    assert result["history"][-1]["step"] == result["steps"] and "train_loss" in result["history"][0]
    assert result["throughput"]["samples_per_s"] > 0 and result["wall_time_s"] > 0
    assert 0 < result["params"]["activation"] < result["params"]["total"]
    saved = torch.load(result["checkpoint"], weights_only=False)
    assert saved["status"] == "done" and saved["cell"]["task"] == task and saved["state_dict"]
    shapes = result["activation_shapes"]
    assert shapes and all(len(s["x"]) == len(s["y"]) == 161 for s in shapes.values())
    assert (work / "checkpoint.pt").is_file()


def test_digits_classification_with_relu_is_well_above_chance(smoke_results):
    metrics = smoke_results["classification", "relu"][0]["metrics"]
    assert metrics["top1"] > 0.8 and metrics["top5"] > 0.95  # chance: 0.1 and 0.5
    assert smoke_results["classification", "relu"][0]["activation_shapes"] == {}  # ReLU learns nothing


@pytest.mark.parametrize("task", ["classification", "lm", "detection"])
def test_two_activations_give_different_numbers(smoke_results, task):
    assert smoke_results[task, "relu"][0]["metrics"] != smoke_results[task, "learnable"][0]["metrics"]


def test_language_model_loss_falls(smoke_results):
    result = smoke_results["lm", "relu"][0]
    first = result["history"][0]["train_loss"]
    assert first > 5.0  # about ln(256): bytes are near uniform at the start
    assert result["metrics"]["val_loss"] < first - 0.7
    assert result["metrics"]["perplexity"] == pytest.approx(math.exp(result["metrics"]["val_loss"]))


def test_detection_map_is_a_fraction(smoke_results):
    for act in ("relu", "learnable"):
        metrics = smoke_results["detection", act][0]["metrics"]
        assert 0.0 <= metrics["map"] <= metrics["map50"] <= 1.0


def test_same_seed_repeats_exactly_and_another_seed_differs(tmp_path, data_root):
    a = run_cell(cell("classification", steps=10), tmp_path / "a", data_root=data_root, progress=False)
    b = run_cell(cell("classification", steps=10), tmp_path / "b", data_root=data_root, progress=False)
    c = run_cell(cell("classification", seed=1, steps=10), tmp_path / "c", data_root=data_root, progress=False)
    assert a["metrics"] == b["metrics"] and a["history"] == b["history"]
    assert a["metrics"] != c["metrics"]


def test_forced_divergence_returns_diverged_with_the_step(tmp_path, data_root):
    result = run_cell(cell("classification", optimizer="sgd", lr=1e12, warmup_steps=0), tmp_path,
                      data_root=data_root, progress=False)
    assert result["status"] == "diverged"
    assert 1 <= result["diverged_at_step"] <= 40 and result["steps"] == result["diverged_at_step"] - 1
    assert all(v is None for v in result["metrics"].values())


def test_per_channel_activation_shapes_keep_the_mean_and_first_channels(tmp_path, data_root):
    result = run_cell(cell("classification", "per-channel", steps=2), tmp_path, data_root=data_root, progress=False)
    (shape,) = result["activation_shapes"].values()
    assert len(shape["channels"]) == 4 and len(shape["y"]) == 161
    at_minus_4 = [ch[0] for ch in shape["channels"]]
    assert at_minus_4[0] != at_minus_4[3]  # the channels' slopes differ
    assert shape["x"][80] == 0.0 and shape["y"][-1] == pytest.approx(4.0, abs=1e-3)


def test_statistics_phase_begins_at_the_start_and_realigns_after_its_steps(tmp_path, data_root, monkeypatch):
    import suite.tasks.loop as loop

    calls = []

    class Phases:
        @staticmethod
        def statistics_steps(model, total_steps, steps_per_epoch):
            calls.append(("length", total_steps))
            return 3

        @staticmethod
        def begin_statistics(model):
            calls.append(("begin", None))
            return 1

        @staticmethod
        def realign(model):
            calls.append(("realign", step_seen[-1] if step_seen else 0))
            return 1

    step_seen = []
    monkeypatch.setattr(loop, "_phases", lambda: Phases)
    monkeypatch.setattr(loop, "STEP_HOOKS", [step_seen.append])
    result = run_cell(cell("classification", steps=8), tmp_path, data_root=data_root, progress=False)
    # the length is the activations' own, asked with the run's length
    assert calls == [("length", 8), ("begin", None), ("realign", 2)]  # realigned right after the third step
    assert result["statistics_phase"] == {"modules": 1, "steps": 3}


def test_no_weight_decay_on_activation_parameters_and_1d_params():
    from suite.tasks.loop import build_optimizer

    model = tiny_models.TinyCNN("learnable", 1, 10)
    recipe = recipes.get_recipe("classification", "smoke")
    decay, no_decay = build_optimizer(model, recipe).param_groups
    assert decay["weight_decay"] == recipe.weight_decay and no_decay["weight_decay"] == 0.0
    assert any(p is model.act.a for p in no_decay["params"])
    assert {id(p) for p in decay["params"]} == {id(model.conv.weight), id(model.head.weight)}


def test_recipes_load_validate_and_name_the_alternatives():
    for task in ("classification", "lm", "detection"):
        assert {"smoke", "embedded"} <= set(recipes.recipe_names(task))
    convnext = recipes.get_recipe("classification", "ortho-convnext")
    assert (convnext.lr, convnext.weight_decay, convnext.epochs, convnext.mixup, convnext.cutmix) == (4e-3, 0.05, 300, 0.8, 1.0)
    assert convnext.ema and convnext.no_decay_act_and_1d and convnext.warmup(100) == 2000
    gpt2 = recipes.get_recipe("lm", "ortho-gpt2")
    assert (gpt2.lr, gpt2.betas, gpt2.block_size, gpt2.warmup_steps, gpt2.grad_clip) == (6e-4, (0.9, 0.95), 1024, 2000, 1.0)
    coco = recipes.get_recipe("detection", "coco")
    assert coco.total_steps(7000) == 90_000 and coco.schedule == "step"
    with pytest.raises(SuiteError, match="no longer accepted.*'statistics'"):
        recipes.get_recipe("classification", "smoke", {"pwlu_stats_steps": 0})
    with pytest.raises(SuiteError, match="registered: embedded, ortho-gpt2, smoke"):
        recipes.get_recipe("lm", "nanogpt")
    with pytest.raises(SuiteError, match="did you mean .weight_decay."):
        recipes.get_recipe("lm", "smoke", {"weight_decy": 1})
    with pytest.raises(SuiteError, match="mixup"):
        recipes.get_recipe("lm", "smoke", {"mixup": 0.8})


def test_mismatched_data_set_and_task_is_one_clear_error(tmp_path, data_root):
    bad = Cell(activation="relu", arch="tiny", task="lm", dataset="digits", recipe="smoke")
    with pytest.raises(SuiteError, match="'digits' is not accepted for task 'lm'"):
        run_cell(bad, tmp_path, data_root=data_root, progress=False)


def test_mixup_and_ema_recipe_fields_train(tmp_path, data_root):
    result = run_cell(cell("classification", "learnable", steps=6, mixup=0.8, cutmix=1.0, ema=True, ema_decay=0.5),
                      tmp_path, data_root=data_root, progress=False)
    assert result["status"] == "done" and result["activation_shapes"]


def test_amp_is_off_on_cpu_by_default_and_bf16_autocast_runs_when_asked(tmp_path, data_root):
    from suite.tasks.loop import amp_dtype

    recipe = recipes.get_recipe("classification", "smoke")
    assert amp_dtype(recipe, torch.device("cpu")) is None
    assert amp_dtype(recipe, torch.device("cuda")) == torch.bfloat16
    result = run_cell(cell("classification", "learnable", steps=5, amp="bf16"), tmp_path, data_root=data_root,
                      progress=False)
    assert result["status"] == "done" and math.isfinite(result["metrics"]["loss"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_run_uses_bf16_autocast_and_matches_the_documented_fields(tmp_path, data_root):
    result = run_cell(cell("classification", "learnable"), tmp_path, data_root=data_root, device="cuda",
                      progress=False)
    assert result["status"] == "done" and result["metrics"]["top1"] > 0.5


def test_imagefolder_classification_goes_through_the_dataloader_path(tmp_path):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c, cls in enumerate(("n01", "n02")):
            folder = tmp_path / "imagenet" / split / cls
            folder.mkdir(parents=True)
            for i in range(8):  # class 1 is bright, class 0 dark: learnable in a few steps
                pixels = rng.integers(0, 100, (36, 36, 3), dtype=np.uint8) + 150 * c
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i}.png")
    imagenet = Cell(activation="learnable", arch="tiny", task="classification", dataset="imagenet", recipe="smoke",
                    recipe_overrides={"steps": 6, "batch_size": 8, "image_size": 32, "eval_batch_size": 4})
    result = run_cell(imagenet, tmp_path / "work", data_root=tmp_path, progress=False)
    assert result["status"] == "done" and result["steps"] == 6
    assert 0.0 <= result["metrics"]["top1"] <= 1.0 and result["metrics"]["top5"] == 1.0  # two classes


def test_catalog_lists_the_tasks_with_their_recipes():
    rows = {r["task"]: r for r in catalog_rows()}
    assert set(rows) == {"classification", "lm", "detection"}
    assert "ortho-gpt2" in rows["lm"]["recipes"]


# ------------------------------------------------------------ the registered architectures, end to end
REAL = {"classification": "cnn_small", "lm": "gpt_tiny", "detection": "retinanet_tiny"}


@pytest.fixture
def real_models(monkeypatch):
    import suite.tasks.models

    monkeypatch.undo()  # the registered architectures, not the tiny stand-ins
    assert suite.tasks.models.create_model is not tiny_models.create_model


@pytest.mark.parametrize("task", ["classification", "lm", "detection"])
def test_real_architectures_run_the_smoke_recipe(real_models, tmp_path, data_root, task):
    real = Cell(activation="relu", arch=REAL[task], task=task, dataset=DATASET[task], recipe="smoke")
    result = run_cell(real, tmp_path, data_root=data_root, progress=False)
    assert result["status"] == "done" and set(result["metrics"]) == METRICS[task]
    assert all(math.isfinite(v) for v in result["metrics"].values())


def test_an_architecture_of_another_task_is_one_clear_error(real_models, tmp_path, data_root):
    wrong = Cell(activation="relu", arch="gpt_tiny", task="classification", dataset="digits", recipe="smoke")
    with pytest.raises(SuiteError, match="'gpt_tiny' is not accepted for task 'classification'"):
        run_cell(wrong, tmp_path, data_root=data_root, progress=False)


def test_the_boards_detector_learns_the_digits_with_the_embedded_recipe(real_models, tmp_path, data_root):
    """The embedded board's detection column ranks something only if the detector learns:
    ReLU must reach a clearly non-trivial mAP (the board's ReLU: 0.62 over 5 seeds)."""
    real = Cell(activation="relu", arch="centernet_tiny", task="detection", dataset="digits-detection",
                recipe="embedded")
    result = run_cell(real, tmp_path, data_root=data_root, progress=False)
    assert 0.3 <= result["metrics"]["map"] <= result["metrics"]["map50"] <= 1.0
    evaluated = [p["step"] for p in result["history"] if "map" in p]
    assert len(evaluated) >= 4  # often enough to draw a training curve
