"""Reading and validating results folders: formats, missing/extra frames, sizes, ids."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from lsevos.data.io import read_mask, write_mask
from lsevos.errors import DataError
from lsevos.evaluation.evaluate import evaluate
from lsevos.evaluation.results import read_ids


def _masks(count: int = 4) -> list[np.ndarray]:
    frames = []
    for index in range(count):
        mask = np.zeros((12, 16), dtype=np.uint8)
        mask[2:8, 3 + index : 9 + index] = 255
        frames.append(mask)
    return frames


@pytest.fixture
def tiny(make_davis, tmp_path):
    """One 4-frame sequence `box` with 0/255 GT and a perfect 0/1 prediction folder."""
    root = make_davis({"box": _masks()})
    pred = tmp_path / "pred"
    for index, mask in enumerate(_masks()):
        path = pred / "box" / f"{index:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask // 255, mode="L").save(path)
    return root, pred


@pytest.mark.parametrize(
    "values, mode",
    [
        ([0, 255], "L"),
        ([0, 1], "L"),
        ([0, 1, 2, 3], "L"),
        ([0, 1, 2], "P"),
    ],
)
def test_read_ids_agrees_with_read_mask(tmp_path, values, mode):
    array = np.array(values * 30, dtype=np.uint8).reshape(-1, len(values))
    path = tmp_path / "mask.png"
    if mode == "P":
        write_mask(path, array)
    else:
        Image.fromarray(array, mode="L").save(path)
    ids, present = read_ids(path)
    np.testing.assert_array_equal(ids, read_mask(path))
    assert present == {1} if values == [0, 255] else present == set(values) - {0}


@pytest.mark.parametrize("values", [[0, 3, 255]])
def test_read_ids_rejects_255_mixed_with_ids(tmp_path, values):
    path = tmp_path / "mixed.png"
    Image.fromarray(np.array([values] * 4, dtype=np.uint8), mode="L").save(path)
    with pytest.raises(DataError, match="mixed.png"):
        read_ids(path)


def test_rgb_mask_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "colour.png"
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(path)
    with pytest.raises(DataError, match="colour.png"):
        read_ids(path)


def test_perfect_prediction_and_0_255_prediction_is_object_1(tiny):
    root, pred = tiny
    (result,) = evaluate(root, pred, jobs=1, progress=None)
    assert result.name == "box"
    np.testing.assert_array_equal(result.frames, [1, 2])
    assert result.j.tolist() == [1.0, 1.0] and result.f.tolist() == [1.0, 1.0]
    for index, mask in enumerate(_masks()):
        Image.fromarray(mask, mode="L").save(pred / "box" / f"{index:05d}.png")  # 0/255, not 255 objects
    (again,) = evaluate(root, pred, jobs=1, progress=None)
    assert again.j.tolist() == [1.0, 1.0]


def test_missing_frame_names_the_file(tiny):
    root, pred = tiny
    (pred / "box" / "00002.png").unlink()
    with pytest.raises(DataError, match=r"box/00002\.png"):
        evaluate(root, pred, jobs=1, progress=None)


def test_extra_frame_names_the_file(tiny):
    root, pred = tiny
    shutil.copy(pred / "box" / "00000.png", pred / "box" / "00009.png")
    with pytest.raises(DataError, match=r"00009\.png"):
        evaluate(root, pred, jobs=1, progress=None)


def test_size_mismatch_names_the_file(tiny):
    root, pred = tiny
    Image.fromarray(np.zeros((10, 16), dtype=np.uint8), mode="L").save(pred / "box" / "00001.png")
    with pytest.raises(DataError, match=r"00001\.png.*size"):
        evaluate(root, pred, jobs=2, progress=None)


def test_sequence_without_predictions_is_an_error(tiny):
    root, pred = tiny
    shutil.rmtree(pred / "box")
    with pytest.raises(DataError, match="no predictions for sequence box"):
        evaluate(root, pred, jobs=1, progress=None)


def test_unknown_object_id_is_an_error(tiny):
    root, pred = tiny
    write_mask(pred / "box" / "00001.png", np.full((12, 16), 2, dtype=np.uint8))
    with pytest.raises(DataError, match=r"00001\.png: object id 2"):
        evaluate(root, pred, jobs=1, progress=None)


def test_multi_object_sequence_is_scored_per_object(make_davis, tmp_path):
    gt = []
    for _ in range(3):
        mask = np.zeros((10, 10), dtype=np.uint8)
        mask[1:4, 1:4] = 1
        mask[6:9, 6:9] = 2
        gt.append(mask)
    root = make_davis({"pair": gt})
    for index, mask in enumerate(gt):
        prediction = mask.copy()
        prediction[prediction == 2] = 0  # object 2 missed: J = 0, F = 0
        write_mask(tmp_path / "pred" / "pair" / f"{index:05d}.png", prediction)
    results = evaluate(root, tmp_path / "pred", jobs=1, progress=None)
    assert [r.name for r in results] == ["pair_1", "pair_2"]
    assert results[0].j.tolist() == [1.0] and results[0].f.tolist() == [1.0]
    assert results[1].j.tolist() == [0.0] and results[1].f.tolist() == [0.0]
