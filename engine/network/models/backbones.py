"""torchvision ResNet backbones with the classifier removed.

ImageNet weights are optional: ``pretrained="none"`` never loads them, ``"cache"`` (default)
loads them only when torchvision's file is already in the local torch cache, and
``"download"`` fetches them through torchvision's weights API when missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torchvision
from torch import nn

from engine.errors import ConfigError
from engine.network.weights import cached_weights_path, stored_weights_path


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    builder: Callable[..., torchvision.models.ResNet]
    weights: object  # a torchvision WeightsEnum member
    channels: tuple[int, int, int, int]  # output channels of layer1..layer4


BACKBONES: dict[str, BackboneSpec] = {
    "resnet18": BackboneSpec(
        "resnet18",
        torchvision.models.resnet18,
        torchvision.models.ResNet18_Weights.IMAGENET1K_V1,
        (64, 128, 256, 512),
    ),
    "resnet34": BackboneSpec(
        "resnet34",
        torchvision.models.resnet34,
        torchvision.models.ResNet34_Weights.IMAGENET1K_V1,
        (64, 128, 256, 512),
    ),
    "resnet50": BackboneSpec(
        "resnet50",
        torchvision.models.resnet50,
        torchvision.models.ResNet50_Weights.IMAGENET1K_V2,
        (256, 512, 1024, 2048),
    ),
    "resnet101": BackboneSpec(
        "resnet101",
        torchvision.models.resnet101,
        torchvision.models.ResNet101_Weights.IMAGENET1K_V2,
        (256, 512, 1024, 2048),
    ),
}

PRETRAINED_CHOICES = ("none", "cache", "download")


class ResNetBackbone(nn.Module):
    """A ResNet split into ``stem`` and ``layer1..layer4`` (no pooling, no classifier).

    ``forward(x (B, 3, H, W))`` → ``(B, C4, H/32, W/32)``.
    """

    def __init__(self, name: str, pretrained: str = "cache") -> None:
        super().__init__()
        if name not in BACKBONES:
            raise ConfigError(f"unknown backbone {name!r}; choose from {', '.join(BACKBONES)}")
        if pretrained not in PRETRAINED_CHOICES:
            raise ConfigError(f"pretrained must be one of {PRETRAINED_CHOICES}, not {pretrained!r}")
        spec = BACKBONES[name]
        net = spec.builder(weights=None)
        self.loaded_imagenet = False
        stored = stored_weights_path(name)
        if pretrained == "cache" and stored.is_file():
            # weights the user downloaded through visual-search: a plain tensor file
            net.load_state_dict(torch.load(stored, map_location="cpu", weights_only=True))
            self.loaded_imagenet = True
        elif pretrained == "download" or (
            pretrained == "cache" and os.path.isfile(cached_weights_path(name))
        ):
            state = spec.weights.get_state_dict(progress=False, check_hash=True)  # type: ignore[attr-defined]
            net.load_state_dict(state)
            self.loaded_imagenet = True
        self.name = name
        self.channels = spec.channels
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            net.layer1,
            net.layer2,
            net.layer3,
            net.layer4,
        )

    @property
    def num_features(self) -> int:
        return self.channels[-1]

    def forward_to_layer3(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` → ``(B, C3, H/16, W/16)``."""
        return self.layer3(self.layer2(self.layer1(self.stem(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer4(self.forward_to_layer3(x))

    def widen_layer4_input(self, extra: int) -> None:
        """Let layer4 take ``C3 + extra`` input channels (first block's conv1 and downsample).

        Existing (e.g. ImageNet) weights are kept; the new input channels start at zero, so the
        widened network computes exactly what it did before until training moves them.
        """
        block = self.layer4[0]
        block.conv1 = _widen_conv(block.conv1, extra)
        if block.downsample is not None:
            block.downsample[0] = _widen_conv(block.downsample[0], extra)


def _widen_conv(conv: nn.Conv2d, extra: int) -> nn.Conv2d:
    new = nn.Conv2d(
        conv.in_channels + extra,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=conv.bias is not None,
    )
    with torch.no_grad():
        new.weight.zero_()
        new.weight[:, : conv.in_channels].copy_(conv.weight)
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    return new
