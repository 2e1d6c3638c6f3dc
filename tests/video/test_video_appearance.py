"""The appearance finder of the tracker's recovery: the first frame's AE template and the re-find map."""

from __future__ import annotations

import numpy as np
import torch

from lsevos.model.geometry import similarity
from lsevos.model.lse_net import LSENet
from lsevos.video.inference import appearance_finder, appearance_template, crops_to_tensor


def _model() -> LSENet:
    torch.manual_seed(0)
    return LSENet("tiny", embed_dim=8).eval()


def test_the_template_is_the_median_appearance_embedding_over_the_labelled_foreground():
    model = _model()
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    labels = np.zeros((32, 32), np.uint8)
    labels[8:20, 10:22] = 1
    labels[0:4, 0:4] = 255  # ignored pixels are not the object
    with torch.no_grad():
        ae = model(crops_to_tensor(crop[None], torch.device("cpu")), heads=("ae",)).ae[0]
    expected = torch.quantile(ae[:, torch.from_numpy(labels == 1)], 0.5, dim=1)
    template = appearance_template(model, crop, labels, torch.device("cpu"))
    torch.testing.assert_close(template, expected)
    # nothing labelled: the whole crop
    everything = torch.quantile(ae.reshape(8, -1), 0.5, dim=1)
    torch.testing.assert_close(
        appearance_template(model, crop, np.zeros_like(labels), torch.device("cpu")), everything
    )


def test_the_finder_averages_fp_with_the_similarity_to_the_template():
    model = _model()
    rng = np.random.default_rng(1)
    crop = rng.integers(0, 255, (24, 40, 3), dtype=np.uint8)
    template = torch.linspace(-1.0, 1.0, 8)
    prob = appearance_finder(model, template, torch.device("cpu"))(crop)
    with torch.no_grad():
        output = model(crops_to_tensor(crop[None], torch.device("cpu")), heads=("fp", "ae"))
    look = similarity(output.ae[0], template[:, None, None], dim=0)
    expected = 0.5 * (torch.sigmoid(output.fg_logit[0, 0]) + look)
    assert prob.shape == (24, 40) and prob.dtype == np.float32
    np.testing.assert_allclose(prob, expected.numpy(), rtol=1e-6)
    # a template equal to a pixel's own embedding gives that pixel similarity 1
    own = output.ae[0][:, 5, 7]
    at_own = appearance_finder(model, own, torch.device("cpu"))(crop)[5, 7]
    assert abs(at_own - 0.5 * (torch.sigmoid(output.fg_logit[0, 0, 5, 7]).item() + 1.0)) < 1e-6


def _scene():
    """A 40x48 frame with a bright square object, its first-frame labels and search box."""
    frame = np.full((40, 48, 3), 60, np.uint8)
    frame[12:28, 16:32] = 220
    labels = np.zeros((40, 48), np.uint8)
    labels[12:28, 16:32] = 1
    return frame, labels, (8, 4, 39, 35)


def test_scan_predictors_are_the_plain_predictor_unless_the_settings_ask_for_the_first_frame():
    from lsevos.video.adaptation import Adaptation, FirstFrame, scan_predictors
    from lsevos.video.frames import ArrayFrames
    from lsevos.video.settings import VideoSettings

    model = _model()
    frame, labels, search = _scene()
    frames = ArrayFrames([frame])
    first = FirstFrame(0, labels, search)
    crop = frame[4:36, 8:40]
    plain = Adaptation("ours", VideoSettings(crop_size=32, redetect_below=0.3))
    predict, refind, _ = scan_predictors(model, frames, plain, first)
    assert refind is None
    looking = Adaptation("ours", VideoSettings(crop_size=32, redetect_below=0.3, redetect_appearance=True))
    predict_too, refind, _ = scan_predictors(model, frames, looking, first)
    np.testing.assert_array_equal(predict(crop), predict_too(crop))  # the scan's predictor is unchanged
    template = appearance_template(model, crop, labels[4:36, 8:40], torch.device("cpu"))
    expected = appearance_finder(model, template, torch.device("cpu"))(crop)
    np.testing.assert_allclose(refind(crop), expected, rtol=1e-6)
    # without the fine-tune's frame (a scan of a pretrained checkpoint) there is nothing to look for
    assert scan_predictors(model, frames, looking, None)[1] is None


def test_the_prior_weight_follows_its_agreement_with_the_first_frame_labels(monkeypatch):
    from lsevos.video import saliency
    from lsevos.video.adaptation import Adaptation, FirstFrame, scan_predictors
    from lsevos.video.frames import ArrayFrames
    from lsevos.video.inference import make_predictor
    from lsevos.video.settings import VideoSettings

    def prior(crop):  # salient: the left half of every crop
        prob = np.zeros(crop.shape[:2], np.float32)
        prob[:, : crop.shape[1] // 2] = 1.0
        return prob

    monkeypatch.setattr(saliency, "shared_saliency", lambda size=320: prior)
    model = _model()
    frame, labels, search = _scene()
    crop = frame[4:36, 8:40]
    settings = VideoSettings(crop_size=32, saliency_weight=0.8, saliency_evidence=True)
    predict, _, _ = scan_predictors(model, ArrayFrames([frame]), Adaptation("ours", settings), None)
    network = make_predictor(model, "fused", torch.device("cpu"))(crop)
    np.testing.assert_allclose(predict(crop), 0.2 * network + 0.8 * prior(crop), rtol=1e-5)  # no labels
    first = FirstFrame(0, labels, search)
    predict, _, _ = scan_predictors(model, ArrayFrames([frame]), Adaptation("ours", settings), first)
    # in the crop the object is rows 8..23 x columns 8..23, the prior every row x columns 0..15
    weight = 0.8 * (8 * 16) / (16 * 32 + 16 * 16 - 8 * 16)
    np.testing.assert_allclose(predict(crop), (1 - weight) * network + weight * prior(crop), rtol=1e-5)
