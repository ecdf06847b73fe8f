"""ImageNet classifiers that timm lacks, built by torchvision without pretrained weights.

ACON (Ma et al., CVPR 2021) reports ShuffleNetV2 0.5x and 1.5x; torchvision's
``shufflenet_v2_x0_5`` / ``shufflenet_v2_x1_5`` are those networks (Ma et al. 2018), with
``nn.ReLU`` modules after every convolution, which ``create`` replaces.
"""
from __future__ import annotations

from torch import nn
from torchvision.models import shufflenet_v2_x0_5, shufflenet_v2_x1_5

from suite.architectures import image_sample, register_architecture
from suite.errors import SuiteError

# name -> (builder, aliases, description)
TORCHVISION_MODELS = {
    "shufflenet_v2_x0_5": (shufflenet_v2_x0_5, ("shufflenetv2_0.5x", "shufflenet_v2_0_5"),
                           "ShuffleNetV2 0.5x (torchvision, ReLU); ImageNet in the ACON paper"),
    "shufflenet_v2_x1_5": (shufflenet_v2_x1_5, ("shufflenetv2_1.5x", "shufflenet_v2_1_5"),
                           "ShuffleNetV2 1.5x (torchvision, ReLU); ImageNet in the ACON paper"),
}


def _register(name: str, builder, aliases: tuple[str, ...], description: str) -> None:
    @register_architecture(
        name, task="classification", scale="paper", input_size=(3, 224, 224),
        sample=image_sample(32), aliases=aliases, description=description, sample_size=32,
    )
    def build(num_classes: int | None = None, **kw) -> nn.Module:
        if kw.get("weights"):
            raise SuiteError(f"pretrained weights are not accepted for {name!r}; the suite trains from scratch.")
        in_chans = kw.pop("in_chans", 3)  # the tasks pass the data set's channels
        if in_chans != 3:
            raise SuiteError(f"in_chans={in_chans} is not accepted for {name!r}; torchvision builds it for 3 (RGB).")
        kw["weights"] = None
        return builder(num_classes=num_classes or 1000, **kw)


for _name, (_builder, _aliases, _description) in TORCHVISION_MODELS.items():
    _register(_name, _builder, _aliases, _description)
