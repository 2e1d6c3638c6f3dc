"""The U^2-Net-p salient-object prior: the real model on a hand-made crop, the mixture, and its errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lsevos.errors import ConfigError
from lsevos.video import saliency
from lsevos.video.settings import VideoSettings


def object_crop(size: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """A saturated red disk in the middle of a flat grey crop, and its mask."""
    crop = np.full((size, size, 3), 128, dtype=np.uint8)
    cv2.circle(crop, (size // 2, size // 2), size // 4, (230, 30, 30), thickness=-1)
    mask = np.zeros((size, size), dtype=np.uint8)
    cv2.circle(mask, (size // 2, size // 2), size // 4, 1, thickness=-1)
    return crop, mask.astype(bool)


def test_the_installed_model_finds_the_object_in_a_crop():
    crop, mask = object_crop()
    prob = saliency.Saliency(threads=1)(crop)
    assert prob.shape == mask.shape and prob.dtype == np.float32
    assert prob.min() >= 0.0 and prob.max() <= 1.0
    found = prob > 0.5
    overlap = (found & mask).sum() / (found | mask).sum()
    assert overlap > 0.8, overlap
    # a crop of another shape comes back at that shape
    assert saliency.Saliency(threads=1)(crop[:, :150]).shape == (200, 150)


def test_mix_is_the_weighted_average_and_weight_zero_is_the_network_alone():
    def network(crop):
        return np.full(crop.shape[:2], 0.2, np.float32)

    def prior(crop):
        return np.full(crop.shape[:2], 1.0, np.float32)

    crop = np.zeros((4, 6, 3), np.uint8)
    np.testing.assert_allclose(saliency.mix(network, 0.25, prior)(crop), 0.75 * 0.2 + 0.25 * 1.0)
    assert saliency.mix(network, 0.0, prior) is network


def test_the_veto_drops_a_salient_component_where_the_network_sees_nothing():
    """Two salient blobs; the network calls one pixel of the left one foreground. At weight 0.7 both are
    foreground (0.7 * 1 + 0.3 * n >= 0.7); with the veto the right blob takes the network's 0.1
    (background) and the left one keeps the 0.7 mixture everywhere, its outline included."""
    network = np.full((4, 8), 0.1, np.float32)
    prior = np.zeros((4, 8), np.float32)
    prior[:, :3] = 1.0
    prior[:, 5:] = 1.0
    network[:, :3] = 0.4
    network[0, 0] = 0.9
    plain = saliency.blend(network, prior, 0.7)
    vetoed = saliency.blend(network, prior, 0.7, veto=0.5)
    np.testing.assert_allclose(plain[:, 5:], 0.73)
    np.testing.assert_allclose(vetoed[:, 5:], 0.1)
    np.testing.assert_allclose(vetoed[:, :5], plain[:, :5])  # 0.97 at (0, 0), 0.82 elsewhere on the blob
    assert vetoed[0, 0] == pytest.approx(0.97) and vetoed[1, 1] == pytest.approx(0.82)
    assert vetoed.dtype == np.float32
    # when the network sees the object nowhere, every component is vetoed: the crop holds no foreground
    nothing = saliency.blend(np.zeros_like(network), prior, 0.7, veto=0.5)
    assert not (nothing > 0.5).any()


def test_the_veto_follows_the_settings_threshold_and_reaches_the_mix():
    assert saliency.veto_threshold(VideoSettings()) == 0.0
    assert saliency.veto_threshold(VideoSettings(network_veto=True, threshold=0.4)) == 0.4

    def network(crop):
        return np.zeros(crop.shape[:2], np.float32)

    def prior(crop):
        return np.ones(crop.shape[:2], np.float32)

    crop = np.zeros((3, 3, 3), np.uint8)
    np.testing.assert_allclose(saliency.mix(network, 0.7, prior)(crop), 0.7)
    np.testing.assert_allclose(saliency.mix(network, 0.7, prior, veto=0.5)(crop), 0.0)


def test_the_log_odds_blend_lets_a_sure_network_override_an_unsure_prior(tmp_path):
    """Hand values at weight 0.7, sigmoid(0.3 logit(n) + 0.7 logit(s)): a sure background network (0.05)
    against a prior of 0.7 gives 0.428 (the mean: 0.505); a sure foreground network (0.99) against 0.2
    gives 0.601 (the mean: 0.437); both saturated and opposed, the heavier prior wins (clipped to 0.001:
    0.059); equal probabilities stay."""
    network = np.array([0.05, 0.99, 1.0, 0.3], np.float32)
    prior = np.array([0.7, 0.2, 0.0, 0.3], np.float32)
    np.testing.assert_allclose(saliency.blend(network, prior, 0.7), [0.505, 0.437, 0.3, 0.3], atol=1e-6)
    mixed = saliency.blend(network, prior, 0.7, log_odds=True)
    np.testing.assert_allclose(mixed, [0.4280, 0.6006, 0.0594, 0.3], atol=1e-4)
    assert mixed.dtype == np.float32
    settings = VideoSettings(saliency_weight=0.7, saliency_blend="log_odds", network_veto=True)
    assert saliency.blend_options(settings) == {"veto": 0.5, "log_odds": True}
    assert saliency.blend_options(VideoSettings()) == {"veto": 0.0, "log_odds": False}
    crop = np.zeros((1, 4, 3), np.uint8)
    got = saliency.mix(lambda _: network[None], 0.7, lambda _: prior[None], log_odds=True)(crop)
    np.testing.assert_allclose(got[0], mixed)
    fake = CountingPrior()  # scan 1's kept prior blends the same way
    frame = np.random.default_rng(0).integers(0, 256, (20, 20, 3), dtype=np.uint8)
    kept = saliency.ScanPrior(0.7, ["a"], tmp_path, 0.8, saliency=fake, log_odds=True)
    crop, ramp = frame[:16, :16], np.linspace(0.01, 0.99, 256, dtype=np.float32).reshape(16, 16)
    expected = saliency.blend(ramp, fake(crop), 0.7, log_odds=True)
    np.testing.assert_allclose(kept("a", frame, (0, 0, 15, 15), crop, ramp), expected, atol=1e-6)


def test_a_missing_model_file_is_one_line_naming_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("LSEVOS_U2NETP", str(tmp_path / "nothing.onnx"))
    with pytest.raises(ConfigError, match="LSEVOS_U2NETP") as error:
        saliency.model_path()
    assert "\n" not in str(error.value)


def test_weight_is_checked():
    with pytest.raises(ConfigError, match="saliency_weight"):
        VideoSettings(saliency_weight=1.5)


def test_evidence_weight_scales_the_weight_by_the_priors_iou_with_the_first_frame_labels():
    def prior(crop):  # salient: the left half of the crop
        prob = np.zeros(crop.shape[:2], np.float32)
        prob[:, : crop.shape[1] // 2] = 0.9
        return prob

    crop = np.zeros((4, 8, 3), np.uint8)
    labels = np.zeros((4, 8), np.uint8)
    labels[:, :4] = 1  # the target is the salient half: IoU 1
    assert saliency.evidence_weight(0.7, crop, labels, prior) == pytest.approx(0.7)
    labels[:, :] = 0
    labels[:, 2:6] = 1  # half of the target is salient, and as much salient area is not the target: 8/24
    assert saliency.evidence_weight(0.7, crop, labels, prior) == pytest.approx(0.7 * 8 / 24)
    labels[:, 2:4] = 255  # ignored pixels count on neither side: 0 shared of 16 -> weight 0
    assert saliency.evidence_weight(0.7, crop, labels, prior) == 0.0
    assert saliency.evidence_weight(0.0, crop, labels, prior) == 0.0


def test_another_input_side_runs_the_same_network_on_a_smaller_image():
    crop, mask = object_crop()
    at_320 = saliency.Saliency(threads=1)(crop)
    # the model with free sides, fed the declared 320: the same network, the same map
    free = saliency.Saliency(threads=1, size=224)
    free.size = 320
    np.testing.assert_allclose(free(crop), at_320, atol=1e-5)
    small = saliency.Saliency(threads=1, size=160)(crop)
    assert small.shape == mask.shape
    found = small > 0.5
    assert (found & mask).sum() / (found | mask).sum() > 0.8


def test_another_input_side_without_onnx_is_one_line_with_the_fix(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    with pytest.raises(ConfigError, match="saliency_size.*pip install onnx") as error:
        saliency.Saliency(threads=1, size=224)
    assert "\n" not in str(error.value)
    find_spec = saliency.importlib.util.find_spec
    monkeypatch.setattr(
        saliency.importlib.util, "find_spec", lambda name: None if name == "onnx" else find_spec(name)
    )
    fixed = saliency.Saliency(threads=1)  # the declared 320 needs no onnx
    fixed.release()  # nothing to shrink with: a no-op
    assert not fixed.free and fixed(object_crop()[0]).shape == (200, 200)


def test_release_hands_the_kept_memory_back_and_the_next_run_is_unchanged():
    import psutil

    from lsevos.devices import return_freed_memory

    crop, _ = object_crop(241)
    prior = saliency.Saliency(threads=1, size=224)
    first = prior(crop)
    prior(crop)
    process = psutil.Process()
    kept = process.memory_info().rss
    prior.release()
    return_freed_memory()
    assert process.memory_info().rss < kept - 50 * 2**20
    np.testing.assert_array_equal(prior(crop), first)


def test_shared_sessions_are_one_per_size_and_all_released(monkeypatch):
    made, released = [], []

    class Fake:
        def __init__(self, size):
            made.append(size)

        def release(self):
            released.append(self)

    monkeypatch.setattr(saliency, "Saliency", Fake)
    monkeypatch.setattr(saliency, "SESSIONS", {})
    assert saliency.shared_saliency(224) is saliency.shared_saliency(224)
    saliency.shared_saliency(320)
    saliency.release_shared()
    assert made == [224, 320] and len(released) == 2


class CountingPrior:
    """A stand-in for U^2-Net-p at side 8: the crop's red channel / 255, counting its runs."""

    size = 8

    def __init__(self):
        self.runs = 0

    def map(self, crop):
        self.runs += 1
        return cv2.resize(crop[..., 0].astype(np.float32) / 255.0, (8, 8), interpolation=cv2.INTER_AREA)

    def __call__(self, crop):
        return cv2.resize(self.map(crop), crop.shape[1::-1], interpolation=cv2.INTER_LINEAR)


def test_scan_1s_prior_is_reused_by_scan_2_where_the_crops_overlap_and_computed_again_elsewhere(tmp_path):
    from lsevos.video.boxes import crop_and_resize, move_crop_map

    frame = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    network = np.full((16, 16), 0.5, np.float32)
    fake = CountingPrior()
    prior = saliency.ScanPrior(0.7, ["a", "b", "c"], tmp_path, 0.8, saliency=fake)
    first = {"a": (0, 0, 19, 19), "b": (20, 10, 39, 29), "c": (30, 0, 59, 39)}
    for name, box in first.items():  # scan 1: the plain mixture, every map kept
        crop = crop_and_resize(frame, box, 16)
        mixed = prior(name, frame, box, crop, network)
        assert np.array_equal(mixed, saliency.mix(lambda _: network, 0.7, fake)(crop))
    assert fake.runs == 6  # 3 kept + 3 by the mix() reference
    kept = fake.map(crop_and_resize(frame, first["a"], 16))
    prior.reuse({**first, "c": None})
    fake.runs = 0
    near = (1, 0, 20, 19)  # IoU 19/21 with a's crop: a's kept map, moved
    crop = crop_and_resize(frame, near, 16)
    expected = 0.3 * network + 0.7 * move_crop_map(kept, first["a"], near, (16, 16))
    np.testing.assert_allclose(prior("a", frame, near, crop, network), expected, rtol=1e-6)
    assert fake.runs == 0 and prior.reused == {"a"}
    far = (25, 10, 44, 29)  # IoU 15/25 with b's crop: run again on this crop
    crop = crop_and_resize(frame, far, 16)
    assert np.array_equal(prior("b", frame, far, crop, network), saliency.blend(network, fake(crop), 0.7))
    assert fake.runs == 2 and prior.reused == {"a"}
    fake.runs = 0
    prior("c", frame, first["c"], crop_and_resize(frame, first["c"], 16), network)  # no crop in scan 1
    assert fake.runs == 1 and prior.reused == {"a"} and prior.summary() == "; scan 1's prior on 1"
    # a map that was not kept (a resumed chain) is computed again on scan 1's crop: the same values
    again = saliency.ScanPrior(0.7, ["a", "b", "c"], tmp_path / "again", 0.8, saliency=fake).reuse(first)
    crop = crop_and_resize(frame, near, 16)
    assert np.array_equal(again("a", frame, near, crop, network), prior("a", frame, near, crop, network))
    assert again.recomputed == {"a"} and "computed again on scan 1's crop on 1" in again.summary()
    prior.discard()
    assert not (tmp_path / "prior.f32").exists()


def test_both_scans_mix_with_the_veto_when_asked(tmp_path):
    """A red crop is salient everywhere; a network that sees nothing vetoes it in scan 1 and in scan 2's
    reused map alike, and the plain ScanPrior keeps it."""
    frame = np.zeros((20, 20, 3), np.uint8)
    frame[..., 0] = 255
    box = (0, 0, 19, 19)
    crop = frame.copy()
    network = np.zeros((20, 20), np.float32)
    for veto, expected in ((0.0, 0.7), (0.5, 0.0)):
        prior = saliency.ScanPrior(0.7, ["a"], tmp_path / str(veto), 0.8, saliency=CountingPrior(), veto=veto)
        np.testing.assert_allclose(prior("a", frame, box, crop, network), expected, atol=1e-6)
        prior.reuse({"a": box})
        np.testing.assert_allclose(prior("a", frame, box, crop, network), expected, atol=1e-6)
        assert prior.reused == {"a"}


def test_the_setting_reaches_the_scan_and_label_predictor_and_the_kept_prior(tmp_path, monkeypatch):
    """`network_veto` in the settings turns the veto on where the workflow builds its predictors: a
    network that sees nothing empties a crop the prior finds salient everywhere."""
    from types import SimpleNamespace

    from lsevos.video import adaptation, inference

    class Everywhere:  # a prior that finds the whole crop salient
        size = 8

        def __call__(self, crop):
            return np.ones(crop.shape[:2], np.float32)

    monkeypatch.setattr(saliency, "shared_saliency", lambda size=320: Everywhere())

    def sees_nothing(*_):
        return lambda crop: np.zeros(crop.shape[:2], np.float32)

    monkeypatch.setattr(inference, "make_predictor", sees_nothing)
    monkeypatch.setattr(adaptation, "make_predictor", sees_nothing)
    crop = np.zeros((5, 5, 3), np.uint8)
    plain = VideoSettings(saliency_weight=0.7)
    vetoed = VideoSettings(saliency_weight=0.7, network_veto=True)
    np.testing.assert_allclose(inference.video_predictor(None, "fp", plain)(crop), 0.7)
    np.testing.assert_allclose(inference.video_predictor(None, "fp", vetoed)(crop), 0.0)
    frames = SimpleNamespace(names=["a"])
    kept = adaptation.kept_prior(frames, vetoed.model_copy(update={"prior_reuse_iou": 0.8}), tmp_path)
    assert kept.veto == 0.5
    # the scan's own predictor (what `segment` and the workflow's scans track with)
    for settings, expected in ((plain, 0.7), (vetoed, 0.0)):
        run = SimpleNamespace(settings=settings, chosen=SimpleNamespace(head="fp", zoom=True))
        model = object()  # never touched: the predictor is patched (None would mean no model at all)
        predict, refind, none = adaptation.scan_predictors(model, frames, run, first=None)
        assert refind is None and none is None
        np.testing.assert_allclose(predict(crop), expected)


def test_the_prior_alone_is_its_map_exactly_and_never_runs_the_network():
    """At weight 1 without a veto the mixture is 0 * network + 1 * prior: `mix` returns the prior itself
    and the network is not called; with a veto, or below weight 1, the network is still asked."""
    calls = []

    def network(crop):
        calls.append(crop.shape)
        return np.full(crop.shape[:2], 0.9, np.float32)

    def prior(crop):
        return np.linspace(0.0, 1.0, crop.shape[0] * crop.shape[1], dtype=np.float32).reshape(crop.shape[:2])

    crop = np.zeros((4, 6, 3), np.uint8)
    alone = saliency.mix(network, 1.0, prior)
    assert alone is prior and calls == []
    assert np.array_equal(saliency.blend(network(crop), prior(crop), 1.0), prior(crop))  # the same values
    calls.clear()
    saliency.mix(network, 1.0, prior, veto=0.5)(crop)
    saliency.mix(network, 0.99, prior)(crop)
    assert calls == [(4, 6, 3), (4, 6, 3)]


def test_runs_network_is_false_only_for_the_prior_alone():
    from lsevos.video.saliency import runs_network
    from lsevos.video.variants import PRIOR_ALONE

    cpu = {"saliency_weight": 0.7, "network_veto": True, "test_flip": True, "redetect_below": 0.3}
    assert runs_network(VideoSettings.from_dict(cpu))
    assert not runs_network(VideoSettings.from_dict({**cpu, **PRIOR_ALONE}))
    for switch in ("network_veto", "saliency_evidence", "redetect_appearance"):
        assert runs_network(VideoSettings.from_dict({**cpu, **PRIOR_ALONE, switch: True})), switch
    assert runs_network(VideoSettings.from_dict({**cpu, **PRIOR_ALONE, "saliency_weight": 0.95}))
