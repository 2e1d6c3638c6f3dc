"""Running an `LSENet` on crops: the device of the video settings, crops as tensors, and the predictor.

`make_predictor` wraps a model as the tracker's `predict(crop uint8 [h,w,3]) -> prob float32 [h,w]`
(`lsevos.video.tracker.Predict`), the only way a scan sees the network; the model computes only the
outputs the head reads (`lsevos.model.fusion.outputs_needed`). A scan mixes the CPU configurations'
saliency prior in (`lsevos.video.saliency.mix`, or `ScanPrior` in scan 2); `video_predictor`, the
predictor with the prior, labels the first frame. `on_device` places a model for the video stage.
Fine-tuning and retraining (`lsevos.video.training`) use the same device and tensor conversion.
"""

from __future__ import annotations

import numpy as np
import torch

from lsevos.devices import resolve_device
from lsevos.video.settings import VideoSettings
from lsevos.video.tracker import Predict


def torch_device(settings: VideoSettings) -> torch.device:
    return resolve_device(settings.device, "video setting 'device'")


def on_device(model: torch.nn.Module, settings: VideoSettings) -> torch.nn.Module:
    """`model` on the settings' device, its weights in channels-last layout with `fast_kernels` (the crops
    are already: `crops_to_tensor` permutes [B,s,s,3] without a copy)."""
    model = model.to(torch_device(settings))
    return model.to(memory_format=torch.channels_last) if settings.fast_kernels else model


def crops_to_tensor(crops: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 [B,s,s,3] -> float [B,3,s,s] in [0,1]."""
    return torch.from_numpy(np.ascontiguousarray(crops)).to(device).permute(0, 3, 1, 2).float().div_(255.0)


def make_predictor(model: torch.nn.Module, head: str, device: torch.device, flip: bool = False) -> Predict:
    """Wrap a model as the tracker's `predict(crop uint8 [h,w,3]) -> prob float32 [h,w]`; the model runs
    only the heads `head` reads. `flip`: the mean of the crop's probability and its mirror image's, mirrored
    back (one batch of two; the video setting `test_flip`)."""
    from lsevos.model.fusion import foreground_probability, outputs_needed

    heads = outputs_needed(head)
    model.eval()

    def predict(crop: np.ndarray) -> np.ndarray:
        crops = np.stack([crop, crop[:, ::-1]]) if flip else crop[None]
        with torch.no_grad():
            output = model(crops_to_tensor(crops, device), heads=heads)
            prob = foreground_probability(output, head)[:, 0].float().cpu().numpy()
        return 0.5 * (prob[0] + prob[1, :, ::-1]) if flip else prob[0]

    return predict


def video_predictor(model: torch.nn.Module, head: str, settings: VideoSettings) -> Predict:
    """The predictor of a scan or of the first-frame labels: the model on the settings' device, with the
    saliency prior mixed in when `saliency_weight` > 0 (`lsevos.video.saliency`)."""
    predict = make_predictor(model, head, torch_device(settings), settings.test_flip)
    if settings.saliency_weight <= 0.0:
        return predict
    from lsevos.video.saliency import blend_options, mix

    return mix(predict, settings.saliency_weight, size=settings.saliency_size, **blend_options(settings))


def appearance_template(model: torch.nn.Module, crop: np.ndarray, labels: np.ndarray, device) -> torch.Tensor:
    """The object's appearance template `[E]`: the per-dimension median of the appearance embedding (AE)
    over the labelled foreground (label 1) of the first frame's search crop (`crop` uint8 [h,w,3],
    `labels` uint8 [h,w]); over the whole crop when nothing is labelled."""
    from lsevos.model.fusion import _median

    model.eval()
    with torch.no_grad():
        ae = model(crops_to_tensor(crop[None], device), heads=("ae",)).ae[0]
    selected = torch.from_numpy(labels == 1).to(device)
    if not bool(selected.any()):
        selected = torch.ones_like(selected)
    return _median(ae[:, selected])


def appearance_finder(model: torch.nn.Module, template: torch.Tensor, device) -> Predict:
    """The tracker's re-find predictor: `predict(crop) -> prob [h,w]`, the mean of the FP probability and
    the similarity of each pixel's appearance embedding to the first frame's `template`
    (`lsevos.model.geometry.similarity`, 1 for the template's appearance): an object is found where the
    network sees foreground that looks like the first frame's, not where it is most salient."""
    from lsevos.model.geometry import similarity

    model.eval()

    def predict(crop: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            output = model(crops_to_tensor(crop[None], device), heads=("fp", "ae"))
            look = similarity(output.ae[0], template[:, None, None], dim=0)
            return (0.5 * (torch.sigmoid(output.fg_logit[0, 0]) + look)).float().cpu().numpy()

    return predict
