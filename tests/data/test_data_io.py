"""lsevos.data.io: masks, frames, frame sources, videos, atomic outputs."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lsevos.data.io import (
    FrameSource,
    atomic_output,
    check_mask_header,
    davis_palette,
    list_frames,
    read_frame,
    read_mask,
    write_mask,
    write_video,
)
from lsevos.errors import DataError


def _leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("."))


def test_davis_palette_is_the_voc_colour_map():
    palette = davis_palette()
    assert palette.shape == (256, 3) and palette.dtype == np.uint8
    # Bits of the id go round-robin to R, G, B from the most significant bit down.
    assert palette[:5].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128]]
    assert palette[8].tolist() == [64, 0, 0]
    assert palette[255].tolist() == [224, 224, 192]


def test_palette_png_round_trip(tmp_path):
    mask = np.array([[0, 1, 2, 3], [7, 0, 255, 1]], dtype=np.uint8)
    path = tmp_path / "mask.png"
    write_mask(path, mask)
    with Image.open(path) as image:
        assert image.mode == "P"
        assert image.size == (4, 2)
        assert list(image.getpalette()[3:6]) == [128, 0, 0]
    np.testing.assert_array_equal(read_mask(path), mask)
    assert _leftovers(tmp_path) == []


def test_write_mask_rejects_bad_ids_and_writes_nothing(tmp_path):
    with pytest.raises(DataError, match="0..255"):
        write_mask(tmp_path / "bad.png", np.array([[0, 300]]))
    assert list(tmp_path.iterdir()) == []


def test_grey_0_255_mask_reads_as_object_1(tmp_path):
    path = tmp_path / "binary.png"
    Image.fromarray(np.array([[0, 255, 255], [0, 0, 255]], dtype=np.uint8)).save(path)
    np.testing.assert_array_equal(read_mask(path), [[0, 1, 1], [0, 0, 1]])


def test_real_davis_mask_reads_as_object_1(davis_root):
    path = davis_root / "Annotations" / "480p" / "blackswan" / "00000.png"
    raw = np.asarray(Image.open(path))
    mask = read_mask(path)
    assert mask.shape == (480, 854)
    assert set(np.unique(mask)) == {0, 1}
    assert int(mask.sum()) == int((raw == 255).sum())


def test_grey_mask_with_opaque_alpha_reads_its_grey_channel(tmp_path):
    path = tmp_path / "with_alpha.png"
    grey = np.array([[0, 255, 255], [0, 0, 255]], dtype=np.uint8)
    Image.fromarray(np.stack([grey, np.full_like(grey, 255)], axis=-1), mode="LA").save(path)
    with Image.open(path) as image:
        assert image.mode == "LA"
    np.testing.assert_array_equal(read_mask(path), [[0, 1, 1], [0, 0, 1]])


def test_grey_mask_with_transparent_pixels_is_refused(tmp_path):
    path = tmp_path / "see_through.png"
    grey = np.array([[0, 255, 255]], dtype=np.uint8)
    alpha = np.array([[255, 0, 255]], dtype=np.uint8)
    Image.fromarray(np.stack([grey, alpha], axis=-1), mode="LA").save(path)
    with pytest.raises(DataError, match="see_through.png: grey mask has a transparent alpha"):
        read_mask(path)


def test_real_davis_train_mask_with_alpha_reads_as_object_1(shared_root):
    """DAVIS 2016 train's bear/00077.png is the split's one grey+alpha (LA) mask."""
    path = shared_root / "data" / "davis2016-train" / "Annotations" / "480p" / "bear" / "00077.png"
    with Image.open(path) as image:
        assert image.mode == "LA"
        grey = np.asarray(image)[..., 0]
    check_mask_header(path)  # the copy-paste source's check before training accepts it too
    mask = read_mask(path)
    assert mask.shape == (480, 854)
    assert set(np.unique(mask)) == {0, 1}
    assert int(mask.sum()) == int((grey == 255).sum()) > 0


def test_the_mask_header_check_names_a_missing_or_unreadable_file(tmp_path):
    with pytest.raises(DataError, match="gone.png: file not found"):
        check_mask_header(tmp_path / "gone.png")
    (tmp_path / "junk.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="junk.png: unreadable image"):
        check_mask_header(tmp_path / "junk.png")


def test_grey_mask_with_small_ids_keeps_them(tmp_path):
    path = tmp_path / "ids.png"
    Image.fromarray(np.array([[0, 1, 2]], dtype=np.uint8)).save(path)
    np.testing.assert_array_equal(read_mask(path), [[0, 1, 2]])


@pytest.mark.parametrize(
    "image",
    [
        Image.fromarray(np.zeros((3, 4, 3), dtype=np.uint8)),
        Image.fromarray(np.zeros((3, 4), dtype=np.uint16) + 300),
        Image.fromarray(np.array([[0, 128, 255]], dtype=np.uint8)),
    ],
    ids=["rgb", "16-bit", "grey-anti-aliased"],
)
def test_unsupported_masks_name_the_file(tmp_path, image):
    path = tmp_path / "odd_mask.png"
    image.save(path)
    with pytest.raises(DataError, match="odd_mask.png"):
        read_mask(path)


def test_read_frame_real_jpeg(davis_root):
    frame = read_frame(davis_root / "JPEGImages" / "480p" / "dog" / "00000.jpg")
    assert frame.shape == (480, 854, 3) and frame.dtype == np.uint8
    assert 20 < frame.mean() < 235


def test_truncated_and_garbage_jpegs_name_the_file(tmp_path, davis_root):
    data = (davis_root / "JPEGImages" / "480p" / "dog" / "00000.jpg").read_bytes()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not a jpeg at all" * 10)
    for path in (truncated, garbage, tmp_path / "missing.jpg"):
        with pytest.raises(DataError, match=path.name):
            read_frame(path)


def test_list_frames_natural_order(tmp_path):
    for name in ("f10.png", "f2.png", "f1.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [path.name for path in list_frames(tmp_path)] == ["f1.jpg", "f2.png", "f10.png"]
    with pytest.raises(DataError, match="nowhere"):
        list_frames(tmp_path / "nowhere")


def _write_frames(folder: Path, count: int, size=(6, 8)) -> list[np.ndarray]:
    folder.mkdir()
    frames = []
    for index in range(count):
        frame = np.full((*size, 3), 10 * index, dtype=np.uint8)
        Image.fromarray(frame).save(folder / f"{index:05d}.png")
        frames.append(frame)
    return frames


def test_frame_source_over_a_folder(tmp_path):
    frames = _write_frames(tmp_path / "frames", 3)
    source = FrameSource(tmp_path / "frames")
    assert len(source) == 3
    assert source.size == (6, 8)
    assert source.names == ["00000", "00001", "00002"]
    items = list(source)
    assert [name for name, _ in items] == source.names
    for (_, frame), expected in zip(items, frames, strict=True):
        np.testing.assert_array_equal(frame, expected)
    np.testing.assert_array_equal(source.read(2), frames[2])


def test_frame_source_rejects_a_frame_of_another_size(tmp_path):
    _write_frames(tmp_path / "frames", 2)
    Image.fromarray(np.zeros((5, 8, 3), dtype=np.uint8)).save(tmp_path / "frames" / "00002.png")
    with pytest.raises(DataError, match="00002.png"):
        list(FrameSource(tmp_path / "frames"))


def test_frame_source_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty"):
        FrameSource(tmp_path / "empty")
    with pytest.raises(DataError, match="absent"):
        FrameSource(tmp_path / "absent")
    (tmp_path / "clip.mp4").write_bytes(b"no video here")
    with pytest.raises(DataError, match="clip.mp4"):
        FrameSource(tmp_path / "clip.mp4")


def _moving_square(count: int) -> list[np.ndarray]:
    frames = []
    for index in range(count):
        frame = np.zeros((64, 96, 3), dtype=np.uint8)
        frame[16:48, 8 + 10 * index : 40 + 10 * index] = (250, 40, 40)
        frames.append(frame)
    return frames


def test_mp4_written_with_opencv_reads_back_as_frames(tmp_path):
    frames = _moving_square(6)
    path = tmp_path / "clip.mp4"
    assert write_video(path, iter(frames), fps=10) == 6
    assert _leftovers(tmp_path) == []
    source = FrameSource(path)
    assert source.size == (64, 96)
    assert len(source) == 6
    assert source.names == ["00000", "00001", "00002", "00003", "00004", "00005"]
    decoded = list(source)
    assert len(decoded) == 6
    for (_, frame), expected in zip(decoded, frames, strict=True):
        assert frame.shape == (64, 96, 3)
        # mp4v is lossy: compare within a tolerance, not byte for byte.
        assert np.abs(frame.astype(int) - expected).mean() < 6
    for index in (4, 1, 5):
        red_columns = np.flatnonzero(source.read(index)[32, :, 0] > 128)
        assert red_columns.min() == pytest.approx(8 + 10 * index, abs=1)
        assert red_columns.max() == pytest.approx(39 + 10 * index, abs=1)
    source.close()


def test_write_video_failure_leaves_nothing(tmp_path):
    frames = _moving_square(2) + [np.zeros((10, 10, 3), dtype=np.uint8)]
    with pytest.raises(DataError, match="frame 2"):
        write_video(tmp_path / "clip.mp4", frames, fps=5)
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []
    with atomic_output(target) as temporary:
        assert temporary.parent == tmp_path and not temporary.exists()
        temporary.write_text("new")
    assert target.read_text() == "new"
    assert _leftovers(tmp_path) == []


def test_atomic_output_replaces_a_folder_safely(tmp_path):
    target = tmp_path / "results"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as temporary:
            temporary.mkdir()
            (temporary / "new.txt").write_text("new")
            raise RuntimeError("interrupted")
    assert sorted(path.name for path in target.iterdir()) == ["old.txt"]
    with atomic_output(target) as temporary:
        temporary.mkdir()
        (temporary / "new.txt").write_text("new")
    assert sorted(path.name for path in target.iterdir()) == ["new.txt"]
    assert _leftovers(tmp_path) == []


def test_atomic_output_requires_an_output(tmp_path):
    with pytest.raises(DataError, match="nothing was written"):
        with atomic_output(tmp_path / "never"):
            pass
    assert list(tmp_path.iterdir()) == []
