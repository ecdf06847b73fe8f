"""Training recipes as data: one validated pydantic model per named recipe.

``get_recipe(task, name, overrides)`` returns the recipe with a cell's ``recipe_overrides``
applied and re-validated; unknown names and fields are one ``SuiteError``. Every task has
"smoke" (seconds on a CPU, for the smoke matrix and tests) and "embedded" (about a minute
on a CPU, sane numbers on the embedded data sets); paper recipes carry their source.
"""
from __future__ import annotations

import difflib
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from suite.errors import SuiteError

TASKS = ("classification", "lm", "detection")


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    task: Literal["classification", "lm", "detection"]
    description: str
    source: str = ""  # citation of the recipe (paper, repository, config)
    verified: bool = True  # False where the values could not be checked against the source

    # length: exactly one of epochs / steps; one step is one optimizer update
    epochs: float | None = Field(None, gt=0)
    steps: int | None = Field(None, gt=0)
    # a trial's cap (`suite run --max-steps N`): training stops after this many updates and
    # the lr schedule spans them; part of the cell's identity, so never the paper's number
    max_steps: int | None = Field(None, gt=0)
    batch_size: int = Field(..., ge=1)  # global batch (all processes, all accumulation steps)
    grad_accum: int = Field(1, ge=1)  # micro-batches per step (memory, not math)

    # optimizer
    optimizer: Literal["sgd", "adamw", "rmsprop"] = "sgd"  # rmsprop: TensorFlow's (the Swish paper's)
    lr: float = Field(..., gt=0)
    momentum: float = 0.9
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = Field(0.0, ge=0)
    no_decay_act_and_1d: bool = False  # no weight decay on activation parameters, biases, norms

    # learning-rate schedule (per step); warm-up in steps or epochs (whichever is larger)
    schedule: Literal["cosine", "step", "linear", "constant"] = "cosine"  # linear: to min_lr at the end
    warmup_steps: int = Field(0, ge=0)
    warmup_epochs: float = Field(0.0, ge=0)
    warmup_lr_init: float = Field(0.0, ge=0)
    min_lr: float = Field(0.0, ge=0)
    milestones: tuple[float, ...] = ()  # "step": fractions of training where lr *= gamma
    gamma: float = 0.1

    # regularisation
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    mixup: float = Field(0.0, ge=0)  # alpha of timm's Mixup (0: off)
    cutmix: float = Field(0.0, ge=0)
    drop_path: float = Field(0.0, ge=0, lt=1)
    ema: bool = False
    ema_decay: float = Field(0.9999, gt=0, lt=1)
    grad_clip: float = Field(0.0, ge=0)  # max global grad norm (0: off)

    # bookkeeping
    eval_every: int = Field(0, ge=0)  # steps between evaluations (0: only at the end)
    checkpoint_every: int = Field(200, ge=0)  # steps between checkpoints (0: none)
    log_every: int = Field(10, ge=1)
    amp: Literal["auto", "none", "bf16", "fp16"] = "auto"  # auto: bf16 on CUDA, off on CPU

    # task and data specifics
    image_size: int | None = None
    block_size: int | None = None  # language modelling context length
    eval_batches: int = Field(20, ge=1)  # language modelling: validation batches per evaluation
    eval_batch_size: int | None = None
    num_workers: int = Field(0, ge=0)
    model_kwargs: dict[str, Any] = Field(default_factory=dict)  # extra kwargs for architectures.create
    data_options: dict[str, Any] = Field(default_factory=dict)  # extra kwargs for suite.data.load

    @model_validator(mode="after")
    def _check(self):
        if (self.epochs is None) == (self.steps is None):
            raise ValueError("give exactly one of epochs and steps")
        if self.batch_size % self.grad_accum:
            raise ValueError(f"batch_size {self.batch_size} is not a multiple of grad_accum {self.grad_accum}")
        if (self.mixup or self.cutmix) and self.task != "classification":
            raise ValueError("mixup/cutmix apply to classification only")
        if self.task == "lm" and not self.block_size:
            raise ValueError("a language-modelling recipe needs block_size")
        if self.schedule == "step" and not self.milestones:
            raise ValueError("schedule 'step' needs milestones")
        return self

    def total_steps(self, steps_per_epoch: int) -> int:
        if self.steps is not None:
            total = self.steps
        else:
            total = max(1, math.ceil(self.epochs * steps_per_epoch))
        return min(total, self.max_steps) if self.max_steps else total

    def warmup(self, steps_per_epoch: int) -> int:
        return max(self.warmup_steps, int(round(self.warmup_epochs * steps_per_epoch)))

    def with_overrides(self, overrides: dict[str, Any] | None) -> "Recipe":
        if not overrides:
            return self
        fields = sorted(Recipe.model_fields)
        if "pwlu_stats_steps" in overrides:  # a field until PWLU's phase I became the unit's own
            raise SuiteError("recipe override 'pwlu_stats_steps' is no longer accepted: PWLU's phase I is the "
                             "activation's parameter 'statistics' (act_params: a fraction of training such as "
                             "0.05, the default, or epochs such as \"5ep\"; 0 turns it off).")
        for key in overrides:
            if key not in Recipe.model_fields:
                close = difflib.get_close_matches(key, fields, n=3)
                hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
                raise SuiteError(f"recipe override {key!r} is not a recipe field; {hint}fields: {', '.join(fields)}.")
        data = {**self.model_dump(), **overrides}
        # the length is epochs or steps: overriding one replaces the other (steps = 500 on an
        # epoch-based paper recipe means 500 steps, not "both given")
        for given, other in (("steps", "epochs"), ("epochs", "steps")):
            if overrides.get(given) is not None and other not in overrides:
                data[other] = None
        return _validated(data, f"recipe {self.name!r} with overrides {overrides!r}")


def _validated(data: dict, what: str) -> Recipe:
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'recipe'}: {e['msg']}" for e in exc.errors())
        raise SuiteError(f"{what} is not valid: {problems}.") from None


RECIPES: dict[tuple[str, str], Recipe] = {}


def register_recipe(**fields) -> Recipe:
    recipe = _validated(fields, f"recipe {fields.get('name')!r}")
    key = (recipe.task, recipe.name)
    if key in RECIPES:
        raise RuntimeError(f"recipe {key} is registered twice")
    RECIPES[key] = recipe
    return recipe


def recipe_names(task: str) -> list[str]:
    return sorted(name for t, name in RECIPES if t == task)


def get_recipe(task: str, name: str, overrides: dict[str, Any] | None = None) -> Recipe:
    if task not in TASKS:
        raise SuiteError(f"task {task!r} is not accepted; expected one of {', '.join(TASKS)}.")
    recipe = RECIPES.get((task, name))
    if recipe is None:
        raise SuiteError(f"unknown {task} recipe {name!r}; registered: {', '.join(recipe_names(task))}.")
    return recipe.with_overrides(overrides)


# ---------------------------------------------------------------- embedded (CPU) recipes
register_recipe(
    name="smoke", task="classification", description="digits, 40 AdamW steps: seconds on a CPU",
    steps=40, batch_size=64, optimizer="adamw", lr=3e-3, weight_decay=0.01, no_decay_act_and_1d=True,
    warmup_steps=4, checkpoint_every=20, eval_batch_size=512,
)
register_recipe(
    name="embedded", task="classification", description="digits, 15 epochs AdamW + cosine: about a minute on a CPU",
    epochs=15, batch_size=64, optimizer="adamw", lr=3e-3, weight_decay=0.01, no_decay_act_and_1d=True,
    warmup_epochs=1, label_smoothing=0.1, eval_every=100, checkpoint_every=100,
    eval_batch_size=512,
)
register_recipe(
    name="smoke", task="lm", description="local text, tiny GPT, 30 AdamW steps of 16x64 tokens",
    steps=30, batch_size=16, block_size=64, optimizer="adamw", lr=3e-3, betas=(0.9, 0.95),
    weight_decay=0.1, no_decay_act_and_1d=True, warmup_steps=3, grad_clip=1.0, eval_batches=4,
    checkpoint_every=15,
)
register_recipe(
    name="embedded", task="lm", description="local text, tiny GPT, 150 AdamW steps of 16x128 tokens",
    steps=150, batch_size=16, block_size=128, optimizer="adamw", lr=2e-3, betas=(0.9, 0.95),
    weight_decay=0.1, no_decay_act_and_1d=True, warmup_steps=10, min_lr=2e-4, grad_clip=1.0,
    eval_every=25, eval_batches=10, checkpoint_every=50,
)
register_recipe(
    name="smoke", task="detection", description="digits canvases, small detector, 20 AdamW steps",
    steps=20, batch_size=8, optimizer="adamw", lr=1e-3, weight_decay=1e-4, no_decay_act_and_1d=True,
    warmup_steps=2, grad_clip=10.0, checkpoint_every=10, eval_batch_size=25,
    data_options={"n_train": 200, "n_val": 25},
)
register_recipe(
    # Sized for centernet_tiny (ReLU: mAP about 0.6 in about 35 s of one core); retinanet_tiny
    # reached only about 0.1 with the previous recipe (250 steps of 16 canvases, lr 1e-3).
    name="embedded", task="detection", description="digits canvases, 200 AdamW steps of 24 canvases",
    steps=200, batch_size=24, optimizer="adamw", lr=2e-3, weight_decay=1e-4, no_decay_act_and_1d=True,
    warmup_steps=10, grad_clip=10.0, eval_every=50, checkpoint_every=100,
    eval_batch_size=100, data_options={"n_train": 2000, "n_val": 200},
)

# ---------------------------------------------------------------- paper recipes
register_recipe(
    name="pwlu-imagenet", task="classification",
    description="PWLU paper's ImageNet recipe for ResNet/MobileNet/EfficientNet (phase I statistics, then learning)",
    source="Zhou, Zhu, Zhong, ICCV 2021, arXiv 2104.03693, Sec. 5 (experimental settings)",
    verified=False,  # the stored copy of the paper stops before its settings: values are the usual SGD recipe
    epochs=100, batch_size=1024, optimizer="sgd", lr=0.4, momentum=0.9, nesterov=True, weight_decay=1e-4,
    no_decay_act_and_1d=True, schedule="cosine", warmup_epochs=5, label_smoothing=0.1,
    # PWLU's phase I is the unit's own (5 % of training): 5 of these 100 epochs, as the paper.
    image_size=224, eval_every=5000, checkpoint_every=1000, log_every=50, num_workers=8,
)
register_recipe(
    name="ortho-convnext", task="classification",
    description="ConvNeXt-T recipe of the Hermite/Fourier/Tropical activations paper (ConvNeXt's own recipe)",
    source="Khalfaoui-Hassani et al., arXiv 2502.01247 (experiment repository); Liu et al., ConvNeXt, arXiv 2201.03545",
    epochs=300, batch_size=4096, grad_accum=4, optimizer="adamw", lr=4e-3, betas=(0.9, 0.999),
    weight_decay=0.05, no_decay_act_and_1d=True, schedule="cosine", warmup_epochs=20, min_lr=1e-6,
    label_smoothing=0.1, mixup=0.8, cutmix=1.0, drop_path=0.1, ema=True, ema_decay=0.9999,
    image_size=224, eval_every=3000, checkpoint_every=1000, log_every=50, num_workers=8,
)
register_recipe(
    name="ortho-gpt2", task="lm",
    description="GPT-2 124M on OpenWebText, nanoGPT's recipe as used by the Hermite/Fourier paper",
    source="Khalfaoui-Hassani et al., arXiv 2502.01247; Karpathy, nanoGPT config/train_gpt2.py",
    steps=600_000, batch_size=480, grad_accum=40, block_size=1024, optimizer="adamw", lr=6e-4,
    betas=(0.9, 0.95), weight_decay=0.1, no_decay_act_and_1d=True, schedule="cosine", warmup_steps=2000,
    min_lr=6e-5, grad_clip=1.0, eval_every=2000, eval_batches=200, eval_batch_size=12,
    checkpoint_every=1000, log_every=10,
)
register_recipe(
    name="coco", task="detection",
    description="RetinaNet 1x schedule: 90k steps of 16 images, SGD, lr x0.1 at 60k and 80k",
    source="Lin et al., Focal Loss (RetinaNet), arXiv 1708.02002; Detectron2 retinanet_R_50_FPN_1x",
    steps=90_000, batch_size=16, optimizer="sgd", lr=0.01, momentum=0.9, weight_decay=1e-4,
    schedule="step", milestones=(60_000 / 90_000, 80_000 / 90_000), gamma=0.1, warmup_steps=1000,
    warmup_lr_init=1e-5, eval_every=10_000, checkpoint_every=1000, log_every=20, eval_batch_size=8,
    num_workers=4,
)

# ---------------------------------------------------------------- the papers' own protocols
# ACON's ImageNet recipes: the official train.py defaults of the authors' repository, as
# listed in ../shared/published/README.md (code defaults, not confirmed against the paper).
register_recipe(
    name="acon-resnet", task="classification",
    description="ACON authors' ResNet defaults: batch 256, 600k iterations, SGD 0.9, lr 0.1 linearly to 0, wd 1e-4",
    source="Ma et al., Activate or Not (ACON), CVPR 2021, arXiv 2009.04759: official repository train.py defaults",
    verified=False,  # from the code's defaults; the paper's text was not read; eval/AMP/workers are the suite's
    steps=600_000, batch_size=256, optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=1e-4,
    schedule="linear", min_lr=0.0, image_size=224, data_options={"augment": {"color_jitter": 0.4}},
    eval_every=20_000, checkpoint_every=2000, log_every=50, num_workers=8,
)
register_recipe(
    name="acon-shufflenet", task="classification",
    description="ACON authors' ShuffleNetV2 defaults: batch 1024, 300k iterations, SGD 0.9, lr 0.5 linearly to 0, "
                "wd 4e-5, label smoothing 0.1",
    source="Ma et al., Activate or Not (ACON), CVPR 2021, arXiv 2009.04759: official repository train.py defaults",
    verified=False,  # from the code's defaults; the paper's text was not read; eval/AMP/workers are the suite's
    steps=300_000, batch_size=1024, optimizer="sgd", lr=0.5, momentum=0.9, weight_decay=4e-5,
    label_smoothing=0.1, schedule="linear", min_lr=0.0, image_size=224,
    data_options={"augment": {"color_jitter": 0.4}},
    eval_every=20_000, checkpoint_every=2000, log_every=50, num_workers=8,
)
# Swish's ImageNet protocol (arXiv 1710.05941 Sec. 5): RMSProp, the same number of steps for
# every activation (set by ReLU's convergence), the best of 3 learning rates. The paper gives
# neither the rates nor the steps nor the batch: lr, batch, epochs, weight decay, label
# smoothing, warm-up and the cosine decay below are GUESSES (RMSProp itself follows TF-slim's
# Inception defaults: decay 0.9, momentum 0.9, eps 1.0). Image size: each network's own.
# Picking the best of 3 rates is not done: run the block with recipe_overrides = {lr = ...}.
register_recipe(
    name="swish-imagenet", task="classification",
    description="Swish paper's ImageNet protocol as far as known: RMSProp, same steps for every activation "
                "(lr, batch, length and schedule are guesses)",
    source="Ramachandran, Zoph, Le, arXiv 1710.05941 v2, Sec. 5 (RMSProp, fixed steps, best of 3 lrs); "
           "TF-slim train_image_classifier.py RMSProp defaults",
    verified=False,  # lr, batch_size, epochs, weight_decay, label_smoothing and schedule are not in the paper
    epochs=100, batch_size=256, optimizer="rmsprop", lr=0.032, momentum=0.9, weight_decay=4e-5,
    schedule="cosine", warmup_epochs=3, label_smoothing=0.1, eval_every=5000, checkpoint_every=1000,
    log_every=50, num_workers=8,
)
# PWLU's COCO detectors (arXiv 2104.03693, read through a secondary source: R50-FPN, train2017
# / val2017, trained from scratch). The schedule is not known: the 1x Detectron2 schedules
# below are GUESSES (from scratch usually needs longer).
register_recipe(
    name="coco-maskrcnn", task="detection",
    description="Mask R-CNN 1x schedule: 90k steps of 16 images, SGD lr 0.02, x0.1 at 60k and 80k",
    source="He et al., Mask R-CNN, arXiv 1703.06870; Detectron2 mask_rcnn_R_50_FPN_1x; PWLU's own schedule unread",
    verified=False,  # PWLU's COCO schedule was not readable; 1x is Detectron2's default
    steps=90_000, batch_size=16, optimizer="sgd", lr=0.02, momentum=0.9, weight_decay=1e-4,
    schedule="step", milestones=(60_000 / 90_000, 80_000 / 90_000), gamma=0.1, warmup_steps=1000,
    warmup_lr_init=1e-5, eval_every=10_000, checkpoint_every=1000, log_every=20, eval_batch_size=8,
    num_workers=4,
)

from suite.tasks import recipes_cifar  # noqa: E402,F401  (registers the CIFAR recipes)
