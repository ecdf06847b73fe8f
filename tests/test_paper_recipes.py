"""The papers' recipes: each cites its source, guesses are marked, and the two pieces of
training they added (ACON's linear decay, the Swish paper's RMSProp) do what they say."""
from __future__ import annotations

import pytest
import torch

from suite.tasks.loop import build_optimizer, build_scheduler
from suite.tasks.recipes import get_recipe

PAPER_RECIPES = [("classification", "acon-resnet"), ("classification", "acon-shufflenet"),
                 ("classification", "swish-imagenet"), ("detection", "coco-maskrcnn")]


@pytest.mark.parametrize("task,name", PAPER_RECIPES)
def test_paper_recipes_cite_a_source_and_mark_guesses(task, name):
    recipe = get_recipe(task, name)
    assert recipe.source.strip() and "arXiv" in recipe.source
    assert recipe.verified is False  # each holds a value not read from the paper itself


def test_acon_recipes_are_the_authors_defaults():
    resnet, shuffle = get_recipe("classification", "acon-resnet"), get_recipe("classification", "acon-shufflenet")
    assert (resnet.batch_size, resnet.steps, resnet.lr, resnet.weight_decay) == (256, 600_000, 0.1, 1e-4)
    assert (shuffle.batch_size, shuffle.steps, shuffle.lr, shuffle.weight_decay, shuffle.label_smoothing) == \
        (1024, 300_000, 0.5, 4e-5, 0.1)
    assert resnet.data_options["augment"] == {"color_jitter": 0.4}


def test_linear_schedule_goes_straight_to_zero():
    model = torch.nn.Linear(2, 2)
    recipe = get_recipe("classification", "acon-resnet")
    opt = build_optimizer(model, recipe)
    sched = build_scheduler(opt, recipe, total_steps=100, warmup=0)
    lrs = []
    for step in (0, 25, 50, 100):
        sched.step_update(step)
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == pytest.approx([0.1, 0.075, 0.05, 0.0], abs=1e-3)


def test_swish_recipe_trains_with_tensorflow_rmsprop():
    model = torch.nn.Linear(2, 2)
    opt = build_optimizer(model, get_recipe("classification", "swish-imagenet"))
    assert type(opt).__name__ == "RMSpropTF" and opt.defaults["eps"] == 1.0
    before = model.weight.detach().clone()
    model(torch.ones(1, 2)).sum().backward()
    opt.step()
    assert not torch.equal(before, model.weight)
