"""The papers' ImageNet classifiers, built by timm without pretrained weights.

PWLU (Zhou et al. 2021) reports ResNet-18/50, MobileNet-V2/V3 and EfficientNet-B0; the
orthogonal-basis paper (Khalfaoui-Hassani et al.) reports ConvNeXt-T; ACON (Ma et al. 2021)
ResNet-50/101/152; Swish (Ramachandran et al. 2017) MobileNet (V1), Inception-v3, Inception-v4
and Inception-ResNet-v2 (its Mobile NASNet-A has no timm or torchvision build). timm builds them
with their stock activations (ReLU, ReLU6, hard-swish, SiLU, GELU); ``create`` then
swaps every hidden one, including those timm builds outside ``act_layer`` (MobileNetV3's
ReLU blocks, squeeze-excite reductions). Pretrained weights are never loaded: a
comparison of activations trains from scratch.
"""
from __future__ import annotations

import timm
from torch import nn

from suite.architectures import image_sample, register_architecture
from suite.errors import SuiteError

# timm name -> description (stock activation; where the papers report it)
TIMM_MODELS = {
    "resnet18": "ResNet-18 (timm, ReLU); ImageNet in the PWLU paper",
    "resnet50": "ResNet-50 (timm, ReLU); ImageNet in the PWLU paper",
    "mobilenetv2_100": "MobileNet-V2 1.0 (timm, ReLU6); ImageNet in the PWLU paper",
    "mobilenetv3_large_100": "MobileNet-V3 Large 1.0 (timm, hard-swish/ReLU, SE); ImageNet in the PWLU paper",
    "efficientnet_b0": "EfficientNet-B0 (timm, SiLU, SE); ImageNet in the PWLU paper",
    "convnext_tiny": "ConvNeXt-T (timm, GELU); ImageNet in the orthogonal-basis activations paper",
    "resnet101": "ResNet-101 (timm, ReLU); ImageNet in the ACON paper",
    "resnet152": "ResNet-152 (timm, ReLU); ImageNet in the ACON paper",
    "mobilenetv1_100": "MobileNet (V1) 1.0 (timm, ReLU); ImageNet in the Swish paper (Table 8)",
    "inception_v3": "Inception-v3 (timm, ReLU); ImageNet in the Swish paper (Table 9)",
    "inception_v4": "Inception-v4 (timm, ReLU); ImageNet in the Swish paper (Table 10)",
    "inception_resnet_v2": "Inception-ResNet-v2 (timm, ReLU); ImageNet in the Swish paper (Table 7)",
}
# Smallest square input the traced forward (and tests) may use: the Inception stems shrink
# a 64 px image below their 3x3 kernels; 75 px is the smallest size that passes.
SAMPLE_SIZE = {"inception_v3": 75, "inception_v4": 75, "inception_resnet_v2": 75}
ALIASES = {
    "resnet18": ("resnet_18",),
    "resnet50": ("resnet_50",),
    "mobilenetv2_100": ("mobilenet_v2", "mobilenetv2"),
    "mobilenetv3_large_100": ("mobilenet_v3", "mobilenetv3", "mobilenetv3_large"),
    "efficientnet_b0": ("efficientnetb0",),
    "convnext_tiny": ("convnext_t", "convnext"),
    "resnet101": ("resnet_101",),
    "resnet152": ("resnet_152",),
    "mobilenetv1_100": ("mobilenet_v1", "mobilenetv1"),
    "inception_v3": ("inceptionv3",),
    "inception_v4": ("inceptionv4",),
    "inception_resnet_v2": ("inceptionresnetv2",),
}


def _register(timm_name: str, description: str) -> None:
    @register_architecture(
        timm_name, task="classification", scale="paper", input_size=(3, 224, 224),
        # 32 px: the smallest size the others take (ConvNeXt downsamples 32x).
        sample=image_sample(SAMPLE_SIZE.get(timm_name, 32)), aliases=ALIASES[timm_name],
        description=description, timm_name=timm_name, sample_size=SAMPLE_SIZE.get(timm_name, 32),
    )
    def build(num_classes: int | None = None, **kw) -> nn.Module:
        if kw.pop("pretrained", False):
            raise SuiteError(f"pretrained=True is not accepted for {timm_name!r}; the suite trains from scratch.")
        return timm.create_model(timm_name, pretrained=False, num_classes=num_classes or 1000, **kw)


for _name, _description in TIMM_MODELS.items():
    _register(_name, _description)
