"""Mask and frame I/O: indexed PNG masks with the DAVIS palette, frame folders, video files, atomic outputs.

Masks are `uint8 [H, W]` object ids (0 = background, 1..K = objects, 255 = void where a dataset has it).
Frames are `uint8 [H, W, 3]` RGB. Images are read as a viewer displays them: turned as their EXIF
orientation says, 16-bit samples rounded to the nearest 8-bit ones.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from lsevos import outputs
from lsevos.errors import ConfigError, DataError

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")


def davis_palette() -> np.ndarray:
    """The DAVIS (PASCAL VOC) colour map: `uint8 [256, 3]`, id 0 black, 1 dark red, 2 dark green, ..."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    for index in range(256):
        value, red, green, blue = index, 0, 0, 0
        for bit in range(8):
            red |= ((value >> 0) & 1) << (7 - bit)
            green |= ((value >> 1) & 1) << (7 - bit)
            blue |= ((value >> 2) & 1) << (7 - bit)
            value >>= 3
        palette[index] = (red, green, blue)
    return palette


_PALETTE_BYTES = davis_palette().tobytes()


def natural_key(name: str) -> list[object]:
    """Sort key that orders embedded numbers by value: 'f2' before 'f10'."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


OUTPUT_MARKER = ".lsevos-output"
"""File that marks a folder as written whole by an lsevos command; it holds the kind of output (`scan`,
`grabcut`). Such a folder may be replaced by the next run of the same command; any other non-empty folder
is refused (see docs/design.md, "Outputs")."""

_TEMPORARY_TAGS = ("tmp", "old")


def _temporary_sibling(path: Path, tag: str) -> Path:
    return path.with_name(f".{path.stem}.{tag}-{uuid.uuid4().hex[:8]}{path.suffix}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def output_owner(path: str | os.PathLike) -> str | None:
    """The kind of output recorded in the marker file of folder `path`, or None (no readable marker)."""
    try:
        return (Path(path) / OUTPUT_MARKER).read_text().strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def _foreign_entry(path: Path, owner: str) -> Path | None:
    """An entry of folder `path` that makes it not replaceable by a command writing `owner` outputs."""
    entries = sorted(path.iterdir())
    if not entries or output_owner(path) == owner:
        return None
    return next((entry for entry in entries if entry.name != OUTPUT_MARKER), entries[0])


def _refuse_foreign(path: Path, owner: str, what: str) -> None:
    foreign = _foreign_entry(path, owner)
    if foreign is not None:
        other = output_owner(path)
        written = f"of lsevos {other} output, not {owner} output" if other else "that lsevos did not write"
        raise DataError(
            f"{path}: {what} is an existing folder {written} (it holds {foreign.name}); lsevos "
            "writes its output folder whole and never deletes files it did not write: choose a new or empty "
            "folder, or delete this one yourself"
        )


def _nearest_existing(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_suffix(path: str | os.PathLike, suffix: str, what: str, written_as: str) -> None:
    """A `ConfigError`, before any work, for an output file whose name does not end in `suffix` (any
    case): `written_as` says what the file is ("the overlay is written as an mp4 video")."""
    if Path(path).suffix.lower() != suffix:
        raise ConfigError(f"{what} {path}: {written_as}; give a name ending in {suffix}")


def check_writable(path: str | os.PathLike, what: str = "--out", kind: str = "file") -> Path:
    """Refuse, before any work, an output `path` that cannot be written: `kind` "file" must not be an
    existing folder, "folder" not an existing file, and the nearest existing parent must be a writable
    folder (atomic outputs write a temporary sibling there). Returns `path`."""
    path = Path(path)
    if kind == "file" and path.is_dir():
        raise DataError(f"{path}: {what} is an existing folder, not a file; give the path of a file to write")
    if kind == "folder" and (path.exists() or path.is_symlink()) and not path.is_dir():
        raise DataError(
            f"{path}: {what} is an existing file, not a folder; give a folder path (or delete it)"
        )
    parent = _nearest_existing(path.parent)
    if not parent.is_dir():
        raise DataError(f"{path}: {what} cannot be created because {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DataError(f"{path}: {what} cannot be written: no write permission in {parent}")
    return path


def check_not_overlapping(path: str | os.PathLike, inputs: Iterable[str | os.PathLike], what: str = "--out"):
    """Refuse an output `path` equal to, inside, or holding one of the `inputs` (replacing it would delete
    or mix with the input)."""
    resolved = Path(path).resolve()
    for source in inputs:
        source = Path(source).resolve()
        if resolved == source or source in resolved.parents:
            raise DataError(
                f"{path}: {what} is the input {source} or inside it; write the output somewhere else"
            )
        if resolved in source.parents:
            raise DataError(
                f"{path}: {what} holds the input {source}; write the output to a folder of its own"
            )


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the hidden temporaries a killed run writing `path` left beside it: `.NAME.tmp-*` (unfinished
    output), `.NAME.work-*` (scratch folders of `lsevos segment`) and, when `path` exists, `.NAME.old-*`
    (the previous output moved aside). Returns what was removed."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    tags = "|".join(_TEMPORARY_TAGS if path.exists() else ("tmp",))
    patterns = (
        re.compile(rf"\.{re.escape(path.stem)}\.(?:{tags})-[0-9a-f]{{8}}{re.escape(path.suffix)}"),
        re.compile(rf"\.{re.escape(path.name)}\.work-[A-Za-z0-9_]+"),
    )
    removed = []
    for entry in path.parent.iterdir():
        if any(pattern.fullmatch(entry.name) for pattern in patterns):
            _remove(entry)
            removed.append(entry)
    return removed


def prepare_output_folder(
    path: str | os.PathLike,
    owner: str,
    inputs: Iterable[str | os.PathLike] = (),
    what: str = "--out",
    clean: bool = True,
) -> Path:
    """Check, before any work, that the output folder `path` of an `owner` command may be (re)written.

    Refused with a one-line `DataError`: an existing file, an unwritable location, a folder equal to,
    inside or holding one of `inputs`, and an existing non-empty folder that is not a previous `owner`
    output (no marker file naming `owner`). With `clean`, leftover temporaries of killed runs are removed
    (not where this process may be using them: `Segmentation.save` inside `lsevos segment`, whose
    scratch folder is `.NAME.work-*`).
    """
    path = Path(path)
    check_not_overlapping(path, inputs, what)
    check_writable(path, what, "folder")
    if path.is_symlink():  # replaced whole by a rename, which would replace the link, not its folder
        raise DataError(f"{path}: {what} is a symbolic link; give the path of the folder itself")
    if path.is_dir():
        _refuse_foreign(path, owner, what)
    outputs.lock_output(path, what)
    if clean:
        remove_stale_temporaries(path)
    return path


def retire_output(path: str | os.PathLike, owner: str | None, what: str) -> None:
    """Remove the earlier output at `path` (a folder of `owner` outputs, or with `owner` None a file) that
    its command claimed before any work, checked again now: a run writes its outputs one after the other,
    and one stopped between two leaves those it finished and none of an earlier run beside them. A file or
    folder lsevos did not write (put there during the run) is refused, never removed."""
    path = Path(path)
    if path.is_symlink():
        raise DataError(f"{path}: {what} is a symbolic link; give the path of the output itself")
    if owner is not None and path.is_dir():
        _refuse_foreign(path, owner, what)
        shutil.rmtree(path)
    elif owner is None and path.exists():
        outputs.refuse_foreign_file(path, what)
        path.unlink()
        outputs.record_path(path).unlink(missing_ok=True)


def prepare_output_file(
    path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (), what: str = "--out"
) -> Path:
    """Check, before any work, that the single-file output `path` may be (re)written, and claim it.

    Refused with a one-line `DataError`: an existing folder, an unwritable location, the path of an input
    (or inside or holding one), an existing file lsevos did not write (`lsevos.outputs`), and an output
    another running lsevos command holds. Leftover temporaries of killed runs are removed; the file is
    recorded as lsevos's when it is renamed into place.
    """
    path = Path(path)
    check_writable(path, what, "file")
    check_not_overlapping(path, inputs, what)
    outputs.claim_file(path, what)
    outputs.lock_output(path, what)
    remove_stale_temporaries(path)
    return path


class DiskFullError(DataError):
    """A write failed because the disk (or the quota) ran out of space."""


NEARLY_FULL_BYTES = 1 << 20
"""Free space under which a failed write is taken for a full disk: torch and OpenCV report one without
its errno (torch: RuntimeError "unexpected pos ...", OpenCV: a False return)."""


def _nearly_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(_nearest_existing(folder)).free < NEARLY_FULL_BYTES
    except OSError:
        return False


def _discard(temporary: Path, path: Path, error: BaseException) -> None:
    """Remove the unfinished `temporary` of `path` after `error`; a write that failed for lack of space
    becomes the one-line out-of-space error naming `path` (any other error is the caller's to re-raise)."""
    full = _out_of_space(error, temporary)
    _remove(temporary)
    if full:
        raise out_of_space_error(path) from None


def _out_of_space(error: BaseException, temporary: Path) -> bool:
    """Whether the write of `temporary` failed for lack of space (asked before it is removed)."""
    if isinstance(error, DiskFullError):
        return True
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(error, OSError | RuntimeError) and _nearly_full(temporary.parent)


_HIDDEN_WORK = re.compile(r"\.(?P<name>.+)\.work-[A-Za-z0-9_]+")
_HIDDEN_TEMPORARY = re.compile(r"\.(?P<stem>.+)\.(?:tmp|old)-[0-9a-f]{8}(?P<suffix>.*)")


def _output_behind(path: Path) -> Path:
    """The output a path inside a hidden `.NAME.work-*` or `.NAME.tmp-*` folder is written for (the
    outermost such folder), or `path` itself."""
    parts = path.parts
    for index, part in enumerate(parts[:-1]):
        work, temporary = _HIDDEN_WORK.fullmatch(part), _HIDDEN_TEMPORARY.fullmatch(part)
        if work or temporary:
            name = work["name"] if work else temporary["stem"] + temporary["suffix"]
            return Path(*parts[:index], name)
    return path


def out_of_space_error(path: str | os.PathLike) -> DiskFullError:
    """The one-line error of a write that failed for lack of space at `path` (an output inside another
    output being written is reported as the outer one, a file in a command's hidden scratch or temporary
    folder as the output that folder belongs to)."""
    path = _output_behind(Path(path))
    folder = _nearest_existing(path.parent)
    try:
        free = f"{shutil.disk_usage(folder).free / 1e6:.1f} MB free there now"
    except OSError:
        free = "free space unknown"
    return DiskFullError(
        f"{path}: the disk ran out of space while writing it (in {folder}; {free}); nothing was written "
        "there: free some space or write the output to another disk"
    )


@contextmanager
def atomic_output(path: str | os.PathLike, owner: str | None = None) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; when the block succeeds, rename it onto `path`.

    The temporary path does not exist yet: write a file there or create a folder there. On an exception
    the temporary file or folder is removed and `path` is left as it was. An existing folder at `path` is
    moved aside first and deleted only after the new one is in place (restored if the rename fails).
    A folder is never replaced by a file nor a file by a folder (`DataError`). With `owner` the new folder
    gets the marker file `OUTPUT_MARKER` naming it, and an existing non-empty folder is replaced only if
    its marker names the same `owner`. A file a command claimed (`prepare_output_file`) is recorded as
    lsevos's when it is renamed into place (`lsevos.outputs`). A write that fails for lack of space
    raises `DiskFullError` naming `path`.
    """
    path = Path(path)
    blocking = _nearest_existing(path.parent)
    if not blocking.is_dir():
        raise DataError(f"{path}: cannot be written because {blocking} is a file, not a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_sibling(path, "tmp")
    try:
        yield temporary
        if not (temporary.exists() or temporary.is_symlink()):
            raise DataError(f"{path}: nothing was written to the temporary output {temporary}")
        new_is_folder = temporary.is_dir() and not temporary.is_symlink()
        old_is_folder = path.is_dir() and not path.is_symlink()
        if old_is_folder and not new_is_folder:
            raise DataError(f"{path}: is an existing folder; refusing to replace it with a file")
        if new_is_folder and path.exists() and not old_is_folder:
            raise DataError(f"{path}: is an existing file; refusing to replace it with a folder")
        if new_is_folder and owner is not None:
            if old_is_folder:
                _refuse_foreign(path, owner, "the output")
            (temporary / OUTPUT_MARKER).write_text(f"{owner}\n")
    except BaseException as error:
        _discard(temporary, path, error)
        raise
    if path.is_dir() and not path.is_symlink():
        backup = _temporary_sibling(path, "old")
        os.replace(path, backup)
        try:
            os.replace(temporary, path)
        except BaseException:
            os.replace(backup, path)
            _remove(temporary)
            raise
        _remove(backup)
    else:
        try:
            record = outputs.before_replace(path, temporary)
        except BaseException as error:
            _discard(temporary, path, error)
            raise
        os.replace(temporary, path)
        outputs.after_replace(path, record)


def frame_name_gaps(names: list[str]) -> list[tuple[str, str]]:
    """Pairs of consecutive frame names whose numbers jump by more than one (`00001` -> `00003`): frames
    missing from a numbered sequence. Names without a number are not checked."""
    numbers = []
    for name in names:
        digits = re.findall(r"\d+", name)
        if not digits:
            return []
        numbers.append(int(digits[-1]))
    return [
        (names[index], names[index + 1])
        for index in range(len(names) - 1)
        if numbers[index + 1] - numbers[index] > 1
    ]


EXIF_ORIENTATION = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
"""EXIF orientation -> the transposition that shows the stored pixels as a viewer displays them."""

FRAME_MODES = ("1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr")
"""PIL image modes whose conversion to 8-bit RGB is exact; 16-bit grey (I;16) is converted by `read_frame`
itself; any other mode (32-bit integer or float pixels) is refused."""
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # a broken EXIF block: the pixels as stored
        return 1
    return value if value in _TRANSPOSE else 1


def _displayed(image: Image.Image, orientation: int) -> Image.Image:
    return image.transpose(_TRANSPOSE[orientation]) if orientation in _TRANSPOSE else image


def open_image(path: str | os.PathLike) -> Image.Image:
    """Open and fully decode an image with PIL, turned as its EXIF orientation says (as a viewer shows
    it); missing, unreadable or truncated files raise `DataError`."""
    path = Path(path)
    image = _open_stored(path)
    return _displayed(image, _orientation(image))


def _open_stored(path: Path) -> Image.Image:
    """The decoded image with its pixels as stored (no EXIF orientation applied)."""
    try:
        with Image.open(path) as image:
            image.load()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; check the path or re-create the dataset") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DataError(
            f"{path}: unreadable or truncated image ({error}); replace it with a good copy "
            "(re-download or re-extract the dataset)"
        ) from None
    return image


def _header(path: Path) -> tuple[str, tuple[int, int], int]:
    """(mode, (W, H) as stored, EXIF orientation) of an image file, from its header only; a missing or
    unreadable file raises `DataError`."""
    try:
        with Image.open(path) as image:
            return image.mode, image.size, _orientation(image)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; check the path or re-create the dataset") from None
    except (UnidentifiedImageError, OSError) as error:
        raise DataError(
            f"{path}: unreadable image ({error}); replace it with a good copy "
            "(re-download or re-extract the dataset)"
        ) from None


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(H, W) of an image file as displayed (EXIF orientation applied), read from its header only."""
    _, (width, height), orientation = _header(Path(path))
    return (width, height) if orientation in (5, 6, 7, 8) else (height, width)


def _png_bit_depth(path: Path) -> int | None:
    try:
        with open(path, "rb") as stream:
            header = stream.read(25)
    except OSError:
        return None
    return header[24] if len(header) == 25 and header.startswith(b"\x89PNG\r\n\x1a\n") else None


def sixteen_to_eight_bits(values: np.ndarray) -> np.ndarray:
    """16-bit samples -> the nearest 8-bit ones, round(v * 255 / 65535) = (v + 128) // 257 (exact: 257 * k
    gives k back, so a frame saved from 8 bits to 16 reads back unchanged)."""
    return ((values.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _sixteen_bit_frame(path: Path) -> np.ndarray:
    """A 16-bit PNG (grey, grey+alpha, RGB or RGBA) read at full depth, as RGB `uint8 [H, W, 3]`."""
    import cv2

    values = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if values is None or values.dtype != np.uint16:
        raise DataError(f"{path}: cannot read this 16-bit PNG; save the frame as an 8-bit jpg or png")
    if values.ndim == 2:
        values = np.repeat(values[:, :, None], 3, axis=2)
    elif values.shape[2] == 2:  # grey + alpha
        values = np.repeat(values[:, :, :1], 3, axis=2)
    else:
        values = values[:, :, 2::-1]  # BGR(A) -> RGB
    return sixteen_to_eight_bits(values)


def read_frame(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as RGB `uint8 [H, W, 3]`, as a viewer displays it: EXIF orientation applied,
    16-bit PNGs converted exactly to 8 bits (`sixteen_to_eight_bits`, not PIL's truncation or clipping).
    Unreadable or truncated files and pixel formats without an exact 8-bit form raise `DataError`."""
    path = Path(path)
    image = _open_stored(path)
    orientation = _orientation(image)
    if image.mode in _SIXTEEN_BIT_MODES or _png_bit_depth(path) == 16:
        image = Image.fromarray(_sixteen_bit_frame(path))
    elif image.mode not in FRAME_MODES:
        raise DataError(
            f"{path}: image mode {image.mode!r} ({'float' if image.mode == 'F' else 'integer'} pixels) has "
            "no exact 8-bit form; save the frame as an 8-bit RGB jpg or png"
        )
    elif image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(_displayed(image, orientation), dtype=np.uint8)


MASK_MODES = ("P", "1", "L", "LA")
"""PIL image modes `read_mask` reads (their values are checked when the pixels are read); the one list of
them, which `check_mask_header` checks up front."""


def _mode_error(path: Path, mode: str) -> DataError:
    return DataError(
        f"{path}: mask has image mode {mode!r}; save it as an 8-bit indexed (palette) PNG or an 8-bit "
        "grey PNG with object ids"
    )


def check_mask_header(path: str | os.PathLike) -> None:
    """Refuse a mask file whose header already tells `read_mask` cannot read it (missing, unreadable, or
    an image mode outside `MASK_MODES`), without decoding its pixels: for checking a dataset up front."""
    path = Path(path)
    mode = _header(path)[0]
    if mode not in MASK_MODES:
        raise _mode_error(path, mode)


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a mask as object ids `uint8 [H, W]`.

    Palette PNGs give their indices; grey (mode L) masks with values in {0, 255} are single-object masks
    and give {0, 1}; other grey masks give their values as ids. A grey mask with an alpha channel that is
    opaque everywhere (mode LA, as DAVIS 2016's bear/00077.png) is read as its grey channel. RGB, 16-bit,
    partly transparent, or grey masks that mix 255 with other ids raise `DataError`.
    """
    path = Path(path)
    image = open_image(path)
    if image.mode not in MASK_MODES:
        raise _mode_error(path, image.mode)
    if image.mode == "LA":
        grey, alpha = image.split()
        if alpha.getextrema() != (255, 255):
            raise DataError(
                f"{path}: grey mask has a transparent alpha channel; save it without alpha, as an 8-bit grey "
                "PNG with object ids (or 0/255 for one object)"
            )
        image = grey
    if image.mode == "L":
        values = np.asarray(image, dtype=np.uint8)
        present = np.unique(values)
        if present[-1] == 255:
            if len(present) > 2 or (len(present) == 2 and present[0] != 0):
                others = present[:-1].tolist()
                shown = ", ".join(map(str, others[:4])) + (", ..." if len(others) > 4 else "")
                raise DataError(
                    f"{path}: grey mask mixes 255 with {len(others)} other values ({shown}): anti-aliased "
                    "edges? Save a single-object mask as 0/255 (or 0/1) without smoothing, or a multi-object "
                    "mask as an indexed PNG"
                )
            return (values == 255).astype(np.uint8)
        return values
    return np.asarray(image, dtype=np.uint8)  # "P" or "1": palette indices, or 0/1


def write_mask(path: str | os.PathLike, mask: np.ndarray) -> None:
    """Write object ids `[H, W]` (integers 0..255) as an indexed PNG with the DAVIS palette, atomically."""
    path = Path(path)
    mask = np.asarray(mask)
    if mask.ndim != 2 or not (np.issubdtype(mask.dtype, np.integer) or mask.dtype == bool):
        raise DataError(f"{path}: a mask must be a 2-D integer array, got {mask.dtype} {mask.shape}")
    if mask.size and (mask.min() < 0 or mask.max() > 255):
        raise DataError(f"{path}: mask ids must lie in 0..255, got {mask.min()}..{mask.max()}")
    ids = np.ascontiguousarray(mask, dtype=np.uint8)
    image = Image.frombytes("P", (ids.shape[1], ids.shape[0]), ids.tobytes())
    image.putpalette(_PALETTE_BYTES)
    with atomic_output(path) as temporary:
        image.save(temporary, format="PNG")


def list_frames(folder: str | os.PathLike) -> list[Path]:
    """Image files (jpg/jpeg/png/bmp) in `folder`, in natural name order (frame2 before frame10)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: frame folder not found; check the path (a folder of jpg/png frames)")
    frames = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES]
    frames = sorted(frames, key=lambda frame: natural_key(frame.name))
    stems: dict[str, Path] = {}
    for frame in frames:
        if frame.stem in stems:
            raise DataError(
                f"{folder}: {stems[frame.stem].name} and {frame.name} are two frames named "
                f"{frame.stem}: their masks would overwrite each other; keep one of them"
            )
        stems[frame.stem] = frame
    return frames


def _open_video(path: Path):
    import cv2

    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise DataError(f"{path}: OpenCV cannot open this video; convert it to mp4 or to a frame folder")
    return capture


class FrameSource:
    """Frames of a frame folder (jpg/png, natural order) or of a video file (mp4/avi via OpenCV), streamed.

    `len(source)`, `.names` (frame stems; `00000`, `00001`, ... for videos), `.size` (H, W), iteration
    yields `(name, frame uint8 [H, W, 3] RGB)`, `.read(i)` returns frame i, `.check()` checks every frame
    before long work, `.declared` is the frame count the folder or the video's header gives.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if self.path.is_dir():
            self._frames: list[Path] | None = list_frames(self.path)
            if not self._frames:
                raise DataError(f"{self.path}: no jpg/png frames in this folder; put the frames there")
            self._size = image_size(self._frames[0])
            self._count: int | None = len(self._frames)
            self.declared = self._count
        elif self.path.is_file() and self.path.suffix.lower() in VIDEO_SUFFIXES:
            import cv2

            self._frames = None
            capture = _open_video(self.path)
            self._size = (
                int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            )
            self.declared = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
            """Frame count the container's header declares (0: it does not say)."""
            capture.release()
            self._count = None
            self._capture = None
            self._position = 0
        elif self.path.exists():
            raise DataError(
                f"{self.path}: not a frame folder or a video ({', '.join(VIDEO_SUFFIXES)}); "
                "pass a folder of jpg/png frames or a video file"
            )
        else:
            raise DataError(f"{self.path}: no such frame folder or video file; check the path")

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def __len__(self) -> int:
        if self._count is None:
            capture = _open_video(self.path)
            count = 0
            while capture.grab():
                count += 1
            capture.release()
            self._count = count
        return self._count

    @property
    def names(self) -> list[str]:
        if self._frames is not None:
            return [frame.stem for frame in self._frames]
        return [f"{index:05d}" for index in range(len(self))]

    def check(self) -> list[str]:
        """Check every frame before any long work; returns warnings, raises `DataError` on the first bad
        frame. Frame folders: each frame is decoded (readable, a pixel format with an exact 8-bit form)
        and has the first frame's displayed size. Videos: the frames that decode are counted; a
        container that declares more frames than it yields (a file cut short) gets a warning with both
        counts, and no frame at all is an error."""
        if self._frames is not None:
            for frame_path in self._frames:
                self._checked(read_frame(frame_path), str(frame_path))
            return []
        decoded = len(self)
        if decoded == 0:
            raise DataError(f"{self.path}: no frame of this video can be decoded; convert it to mp4 again")
        if self.declared > decoded:
            return [
                f"{self.path}: the file declares {self.declared} frames but only {decoded} can be decoded "
                f"(cut short or damaged?); the {decoded} frames are segmented"
            ]
        return []

    def _checked(self, frame: np.ndarray, where: str) -> np.ndarray:
        if frame.shape[:2] != self._size:
            raise DataError(
                f"{where}: frame size {frame.shape[:2]} differs from the first frame's {self._size}; "
                "all frames of a video must have the same size (resize or re-extract them)"
            )
        return frame

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        if self._frames is not None:
            for frame_path in self._frames:
                yield frame_path.stem, self._checked(read_frame(frame_path), str(frame_path))
            return
        import cv2

        capture = _open_video(self.path)
        try:
            index = 0
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                yield f"{index:05d}", self._checked(rgb, f"{self.path} frame {index}")
                index += 1
        finally:
            capture.release()

    def read(self, index: int) -> np.ndarray:
        """Frame `index` as RGB `uint8 [H, W, 3]` (videos decode forward from the last read position)."""
        if not 0 <= index < len(self):
            raise IndexError(f"{self.path}: frame {index} out of range 0..{len(self) - 1}")
        if self._frames is not None:
            return self._checked(read_frame(self._frames[index]), str(self._frames[index]))
        import cv2

        if self._capture is None or index < self._position:
            if self._capture is not None:
                self._capture.release()
            self._capture = _open_video(self.path)
            self._position = 0
        while self._position < index:
            self._capture.grab()
            self._position += 1
        ok, frame = self._capture.read()
        self._position += 1
        if not ok:
            raise DataError(f"{self.path}: cannot decode frame {index}; the video file may be truncated")
        return self._checked(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), f"{self.path} frame {index}")

    def close(self) -> None:
        """Release the video decoder kept open by `.read` (frame folders hold nothing open)."""
        if self._frames is None and self._capture is not None:
            self._capture.release()
            self._capture = None
            self._position = 0


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float) -> int:
    """Write RGB frames `uint8 [H, W, 3]` to an mp4 (mp4v codec) atomically; returns the frame count."""
    import cv2

    path = Path(path)
    count = 0
    with atomic_output(path) as temporary:
        writer = None
        try:
            for frame in frames:
                frame = np.asarray(frame)
                if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
                    raise DataError(
                        f"{path}: frame {count} must be uint8 [H, W, 3], not {frame.dtype} {frame.shape}"
                    )
                if writer is None:
                    height, width = frame.shape[:2]
                    writer = cv2.VideoWriter(
                        str(temporary), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (width, height)
                    )
                    if not writer.isOpened():
                        if _nearly_full(temporary.parent):
                            raise out_of_space_error(path)
                        raise DataError(f"{path}: OpenCV cannot write an mp4v video here; check the folder")
                elif frame.shape[:2] != (height, width):
                    raise DataError(
                        f"{path}: frame {count} has size {frame.shape[:2]}, frame 0 {(height, width)}; "
                        "all frames of a video must have the same size"
                    )
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
                count += 1
        finally:
            if writer is not None:
                writer.release()
        if count == 0:
            raise DataError(f"{path}: no frames to write")
        _check_written_video(path, temporary, count)
    return count


def _check_written_video(path: Path, temporary: Path, count: int) -> None:
    """OpenCV's writer reports no failed write: read the finished file back and count its frames."""
    import cv2

    readable = 0
    if temporary.is_file() and temporary.stat().st_size > 0:
        capture = cv2.VideoCapture(str(temporary))
        while capture.isOpened() and capture.grab():
            readable += 1
        capture.release()
    if readable == count:
        return
    if _nearly_full(temporary.parent):
        raise out_of_space_error(path)
    raise DataError(
        f"{path}: the video writer produced {readable} readable frames of {count}; nothing was written "
        "there: check the disk and the folder, or write the video elsewhere"
    )


def write_jpeg(path: str | os.PathLike, frame: np.ndarray, quality: int = 95) -> None:
    """Write an RGB frame `uint8 [H, W, 3]` as a JPEG; a failed write (OpenCV only returns False) raises
    `DataError`, `DiskFullError` when the disk is full."""
    import cv2

    path = Path(path)
    try:
        written = cv2.imwrite(
            str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
        )
    except cv2.error:
        written = False
    if not written:
        if _nearly_full(path.parent):
            raise out_of_space_error(path)
        raise DataError(f"{path}: OpenCV could not write this JPEG; check the folder and the disk")
