"""The CIFAR recipes of the Swish paper's Tables 4-5: each network's own published recipe.

Ramachandran, Zoph & Le (arXiv 1710.05941, Sec. 5.1) trained ResNet-164, WRN-28-10 and
DenseNet-100-12 on CIFAR "using the same hyperparameters" as the papers that introduced
them, with SGD and momentum, and report the median of 5 runs. Those recipes, as the
authors' own code runs them:

* pre-activation ResNet-164 (He et al. 2016, arXiv 1603.05027, Sec. 4 and Appendix):
  batch 128, lr 0.1 divided by 10 at 32k and 48k iterations, 64k iterations, momentum
  0.9 (plain), weight decay 1e-4; lr 0.01 for the first 400 iterations. ``verified`` is
  False: the paper's text was not readable here, and its warm-up is a constant 0.01
  where timm's scheduler ramps linearly from 0.01 to 0.1 over those 400 steps.
* WRN-28-10 (Zagoruyko & Komodakis 2016, arXiv 1605.07146): batch 128, lr 0.1 times 0.2
  at epochs 60, 120 and 160, 200 epochs, Nesterov momentum 0.9, weight decay 5e-4,
  reflection padding for the random crop; read from the authors' train.lua and
  scripts/train_cifar.sh. Dropout 0.3 is the network's default (suite/architectures/cifar_wrn.py).
* DenseNet-BC 100-12 (Huang et al. 2017, arXiv 1608.06993, Sec. 4.2): batch 64, 300
  epochs, lr 0.1 divided by 10 at 50 % and 75 % of training, Nesterov momentum 0.9
  (dampening 0), weight decay 1e-4; read from the authors' opts.lua and train.lua, the
  batch size and epochs from their README's CIFAR command.

All three decayed every parameter (Torch's and Caffe's SGD), batch-norm ones included, so
``no_decay_act_and_1d`` is False; the learnable activations' parameters are decayed too.
Mixed precision (bf16 on CUDA, ``amp="auto"``) is the suite's choice, not the papers'.
PWLU's statistics phase lasts 5 epochs (its paper's phase I).
"""
from __future__ import annotations

from suite.tasks.recipes import register_recipe

CIFAR_TRAIN = 50_000


def _epochs_to_steps(epochs: float, batch_size: int) -> int:
    return int(epochs * (CIFAR_TRAIN // batch_size))


_COMMON = dict(
    task="classification", optimizer="sgd", lr=0.1, momentum=0.9, schedule="step",
    no_decay_act_and_1d=False, checkpoint_every=2000, log_every=50, eval_batch_size=500, num_workers=6,
)

register_recipe(
    name="cifar-preresnet", description="pre-activation ResNet-164 on CIFAR: 64k SGD steps of 128, lr /10 at 32k, 48k",
    source="He, Zhang, Ren, Sun, Identity Mappings in Deep Residual Networks, ECCV 2016, arXiv 1603.05027 (Sec. 4, "
           "Appendix); as used by Ramachandran et al., arXiv 1710.05941, Sec. 5.1",
    verified=False,
    steps=64_000, batch_size=128, nesterov=False, weight_decay=1e-4, milestones=(0.5, 0.75), gamma=0.1,
    warmup_steps=400, warmup_lr_init=0.01, eval_every=_epochs_to_steps(10, 128), **_COMMON,
)
register_recipe(
    name="cifar-wrn", description="WRN-28-10 on CIFAR: 200 epochs of 128, Nesterov SGD, lr x0.2 at epochs 60/120/160",
    source="Zagoruyko & Komodakis, Wide Residual Networks, BMVC 2016, arXiv 1605.07146; github.com/szagoruyko/"
           "wide-residual-networks train.lua and scripts/train_cifar.sh; as used by arXiv 1710.05941, Sec. 5.1",
    epochs=200, batch_size=128, nesterov=True, weight_decay=5e-4, milestones=(60 / 200, 120 / 200, 160 / 200),
    gamma=0.2, eval_every=_epochs_to_steps(10, 128),
    data_options={"pad_mode": "reflect"}, **_COMMON,
)
register_recipe(
    name="cifar-densenet", description="DenseNet-BC 100-12 on CIFAR: 300 epochs of 64, Nesterov SGD, lr /10 at 50%, 75%",
    source="Huang, Liu, van der Maaten, Weinberger, Densely Connected Convolutional Networks, CVPR 2017, arXiv "
           "1608.06993 (Sec. 4.2); github.com/liuzhuang13/DenseNet opts.lua and train.lua; as used by arXiv "
           "1710.05941, Sec. 5.1",
    epochs=300, batch_size=64, nesterov=True, weight_decay=1e-4, milestones=(0.5, 0.75), gamma=0.1,
    eval_every=_epochs_to_steps(10, 64), **_COMMON,
)
