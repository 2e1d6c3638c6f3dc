"""Backbones: interface, output strides, torchvision-compatible ResNet-101, weight loading paths."""

from pathlib import Path

import pytest
import torch
from torch import nn

from lsevos.errors import ConfigError
from lsevos.model import backbones
from lsevos.model.backbones import (
    RESNET101_FILE,
    ResNet101Backbone,
    build_backbone,
    efficientnet_lite0_weights_path,
)

# torchvision.models.resnet101(): 44,549,160 parameters, of which the classifier fc holds 2048 * 1000 + 1000.
TORCHVISION_RESNET101_PARAMETERS = 44_549_160
FC_PARAMETERS = 2048 * 1000 + 1000


@pytest.fixture(scope="module")
def resnet() -> ResNet101Backbone:
    return build_backbone("resnet101", pretrained=False)


def test_tiny_backbone_interface():
    backbone = build_backbone("tiny", pretrained=False)
    features = backbone(torch.rand(2, 3, 40, 36))
    assert (backbone.out_channels, backbone.output_stride) == (64, 4)
    assert features.shape == (2, 64, 10, 9)


def test_unknown_backbone_and_tiny_pretrained_are_config_errors():
    with pytest.raises(ConfigError, match="unknown name 'vgg'"):
        build_backbone("vgg", pretrained=False)
    with pytest.raises(ConfigError, match="no pretrained weights"):
        build_backbone("tiny", pretrained=True)


def test_resnet101_uses_torchvision_parameter_names(resnet):
    keys = set(resnet.state_dict())
    for name in (
        "conv1.weight",
        "bn1.running_mean",
        "layer1.0.downsample.0.weight",
        "layer1.0.downsample.1.num_batches_tracked",
        "layer2.3.conv2.weight",
        "layer3.22.conv3.weight",
        "layer4.2.bn3.bias",
    ):
        assert name in keys
    assert "layer3.23.conv1.weight" not in keys
    trunk = sum(parameter.numel() for parameter in resnet.parameters())
    assert trunk + FC_PARAMETERS == TORCHVISION_RESNET101_PARAMETERS


def test_resnet101_is_dilated_with_output_stride_8(resnet):
    assert resnet.layer4[0].conv2.stride == (1, 1) and resnet.layer4[1].conv2.dilation == (4, 4)
    assert resnet.layer3[0].conv2.dilation == (1, 1) and resnet.layer3[1].conv2.dilation == (2, 2)
    with torch.no_grad():
        features = resnet.eval()(torch.rand(1, 3, 32, 24))
    assert features.shape == (1, 2048, 4, 3) and resnet.output_stride == 8


def test_resnet101_without_weights_file_or_network_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(backbones, "RESNET101_URL", f"http://127.0.0.1:9/{RESNET101_FILE}")
    with pytest.raises(ConfigError) as error:
        build_backbone("resnet101", pretrained=True)
    assert str(tmp_path / "hub" / "checkpoints" / RESNET101_FILE) in str(error.value)


@pytest.mark.slow
def test_resnet101_loads_a_torchvision_file_from_the_hub_folder(tmp_path, monkeypatch, resnet):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(backbones, "RESNET101_URL", f"http://127.0.0.1:9/{RESNET101_FILE}")
    state = {key: torch.full_like(value, 0.25) for key, value in resnet.state_dict().items()}
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 2048), torch.zeros(1000)
    folder = Path(tmp_path) / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(state, folder / RESNET101_FILE)
    loaded = build_backbone("resnet101", pretrained=True)
    assert torch.all(loaded.layer3[22].conv3.weight == 0.25) and torch.all(loaded.bn1.running_var == 0.25)


def test_efficientnet_lite0_loads_the_wheel_weights_at_output_stride_16():
    backbone = build_backbone("efficientnet-lite0", pretrained=True)
    state = torch.load(efficientnet_lite0_weights_path(), map_location="cpu", weights_only=True)
    assert torch.equal(backbone.blocks[15]._project_conv.weight, state["_blocks.15._project_conv.weight"])
    assert torch.equal(backbone.stem[0].weight, state["_conv_stem.weight"])
    backbone.train()
    assert all(not module.training for module in backbone.modules() if isinstance(module, nn.BatchNorm2d))
    with torch.no_grad():
        features = backbone(torch.rand(1, 3, 64, 96))
    assert features.shape == (1, 320, 4, 6) and backbone.output_stride == 16


@pytest.mark.slow
def test_fetch_weights_copies_the_users_torch_cache_and_checks_it(tmp_path, monkeypatch, resnet, served):
    """The workflow's local rule imagenet_weights: `lsevos fetch-weights` places the file before any job."""
    from lsevos.cli import main

    home = tmp_path / "home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setattr(backbones, "RESNET101_URL", f"http://127.0.0.1:9/{RESNET101_FILE}")
    out = tmp_path / "resources" / "torch_home" / "hub" / "checkpoints" / RESNET101_FILE
    assert main(["fetch-weights", "--out", str(out)]) == 2  # neither cached nor downloadable
    assert not out.exists() and not list(out.parent.glob(".*"))
    state = {key: torch.full_like(value, 0.5) for key, value in resnet.state_dict().items()}
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 2048), torch.zeros(1000)
    cached = home / "hub" / "checkpoints" / RESNET101_FILE
    cached.parent.mkdir(parents=True)
    torch.save({key: value for key, value in state.items() if not key.startswith("layer4")}, cached)
    with pytest.raises(ConfigError, match=r"not torchvision's ResNet-101 state_dict .*layer4"):
        backbones.fetch_resnet101_imagenet(out)
    torch.save(state, cached)
    assert main(["fetch-weights", "--out", str(out)]) == 0
    assert out.read_bytes() == cached.read_bytes()
    # A training job on a node without internet reads it through TORCH_HOME.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "resources" / "torch_home"))
    cached.unlink()
    assert torch.all(build_backbone("resnet101", pretrained=True).layer2[0].conv1.weight == 0.5)
    # Nothing cached: downloaded (here from a server on 127.0.0.1), checked, then renamed into place.
    mirror, base = served
    torch.save(state, mirror / RESNET101_FILE)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_home"))
    for variable in ("no_proxy", "NO_PROXY"):  # a proxy in the environment must not take the local request
        monkeypatch.setenv(variable, "127.0.0.1")
    monkeypatch.setattr(backbones, "RESNET101_URL", f"{base}/{RESNET101_FILE}")
    downloaded = tmp_path / "downloaded" / RESNET101_FILE
    assert backbones.fetch_resnet101_imagenet(downloaded) == downloaded
    assert downloaded.read_bytes() == (mirror / RESNET101_FILE).read_bytes()
    assert not list(downloaded.parent.glob(".*"))  # no temporary left beside it


@pytest.mark.parametrize("name", ["tiny", "efficientnet-lite0", "resnet101"])
def test_early_layers_end_at_output_stride_4(name, resnet):
    """Run the early layers alone on a 64x96 input: their output is 16x24 (stride 4), and the first layer
    after them halves it again (or, for the tiny backbone, is the last stride-4 layer)."""
    backbone = resnet if name == "resnet101" else build_backbone(name, pretrained=False)
    x = (torch.rand(1, 3, 64, 96) - backbone.mean) / backbone.std
    with torch.no_grad():
        for layer in backbone.early_layers():
            x = layer(x)
            if isinstance(layer, nn.BatchNorm2d) and name == "resnet101":
                x = backbone.maxpool(backbone.relu(x))  # conv1-bn1-relu-maxpool, then layer1
        assert x.shape[-2:] == (16, 24)
    early = {id(p) for layer in backbone.early_layers() for p in layer.parameters()}
    assert 0 < len(early) < len(list(backbone.parameters()))
    if name == "efficientnet-lite0":
        assert len(backbone.early_layers()) == 4  # the stem and the blocks of 16 and 24 channels
