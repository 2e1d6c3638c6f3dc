"""Dense CRF (Kraehenbuehl & Koltun) over a scan's probability maps, via `pydensecrf2` (extra `crf`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from lsevos.data.io import FrameSource, atomic_output, write_mask
from lsevos.errors import ConfigError, DataError
from lsevos.progress import Progress
from lsevos.video.boxes import box_from_mask
from lsevos.video.scan_folder import probability_to_png, read_boxes, read_probability
from lsevos.video.settings import VideoSettings


def _densecrf_module():
    try:
        import pydensecrf.densecrf as densecrf
    except ImportError:
        raise ConfigError(
            "the dense CRF needs pydensecrf2, which is not installed; run: pip install 'lsevos[crf]'"
        ) from None
    return densecrf


def dense_crf(frame: np.ndarray, prob: np.ndarray, settings: VideoSettings) -> np.ndarray:
    """frame uint8 [H,W,3] RGB, foreground prob float [H,W] -> refined foreground prob float32 [H,W]."""
    densecrf = _densecrf_module()
    height, width = prob.shape
    fg = np.clip(prob.astype(np.float32), 1e-5, 1.0 - 1e-5)
    unary = -np.log(np.stack([1.0 - fg, fg]).reshape(2, -1))
    model = densecrf.DenseCRF2D(width, height, 2)
    model.setUnaryEnergy(np.ascontiguousarray(unary, dtype=np.float32))
    model.addPairwiseGaussian(sxy=settings.crf_gaussian_sxy, compat=settings.crf_gaussian_weight)
    model.addPairwiseBilateral(
        sxy=settings.crf_bilateral_sxy,
        srgb=settings.crf_bilateral_srgb,
        rgbim=np.require(frame, dtype=np.uint8, requirements=["C", "W"]),
        compat=settings.crf_bilateral_weight,
    )
    marginals = np.asarray(model.inference(settings.crf_iterations), dtype=np.float32)
    return marginals[1].reshape(height, width)


def crf_scan(
    frames_dir: str | os.PathLike,
    scan_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    settings: VideoSettings,
    progress: Progress | None = None,
) -> int:
    """Write a scan folder whose masks and probabilities are the CRF of `scan_dir`'s (marked as a `crf`
    output: an existing folder is replaced only if it is one); returns the count."""
    _densecrf_module()
    scan_dir = Path(scan_dir)
    document = read_boxes(scan_dir)
    names = list(document["frames"])
    source = FrameSource(frames_dir)
    if source.names != names:
        raise DataError(f"{frames_dir}: frames {source.names[:3]}... do not match the scan's {names[:3]}...")
    with atomic_output(out_dir, owner="crf") as temporary:
        (temporary / "masks").mkdir(parents=True)
        (temporary / "probs").mkdir()
        for index, (name, frame) in enumerate(source):
            refined = dense_crf(frame, read_probability(scan_dir / "probs" / f"{name}.png"), settings)
            mask = (refined > settings.threshold).astype(np.uint8)
            write_mask(temporary / "masks" / f"{name}.png", mask)
            Image.fromarray(probability_to_png(refined), mode="L").save(temporary / "probs" / f"{name}.png")
            box = box_from_mask(mask)
            document["frames"][name] = None if box is None else list(box)
            if progress is not None:
                progress(f"crf: frame {index + 1}/{len(names)} ({name})")
        document["crf"] = True
        (temporary / "boxes.json").write_text(json.dumps(document, indent=1))
    return len(names)
