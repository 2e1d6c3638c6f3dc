"""Several objects in one video (`lsevos segment` with several `--box`, `--boxes` or a multi-id `--mask`).

Each object is tracked and adapted on its own (its scan folder under `objects/<id>/`); the masks are then
merged into one indexed PNG per frame with ids 1..K (DAVIS 2017 style): a pixel belongs to the object
whose probability is highest among those above the threshold there, 0 when none is.

Ids are the user's: a `--boxes` mapping id -> box keeps its ids (mask values, `objects/<id>/`, the
overlay's labels); repeated `--box` options and a `--boxes` list are numbered 1, 2, ... in the order given
(`--box` first); an id given twice (a mapping key repeated in the file, or a mapping id that a `--box`
already has) is refused. Ids lie in 1..254. A `--mask` keeps its ids when it holds several objects. A
run with the single object id 1 writes the single-object scan folder; any other id set writes the
merged layout below. In a palette mask id 255 is "void" (DAVIS/VOC) and is not an object; a grey
(mode L) mask must be 0/255 or a single id.

Output folder of a K-object run (K >= 2, or one object whose id is not 1): `masks/<frame>.png` (0 and
the objects' ids), `boxes.json` =
{"objects": {"<id>": {"frames": ..., "search": ..., "recovery" (the frames the tracker's recovery
looked at)}}, "image_size": [H, W]}, and `objects/<id>/`, the object's scan folder
(`lsevos.video.tracker`). A one-object run writes the object's scan folder itself (masks with ids 0/1,
probs/, boxes.json), as before.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from lsevos.data.io import read_mask, write_mask
from lsevos.errors import ConfigError, DataError
from lsevos.progress import Progress
from lsevos.video.boxes import Box, box_from_mask, parse_box
from lsevos.video.scan_folder import read_boxes, read_probability

MAX_OBJECTS = 255


def merge_probabilities(probs: Sequence[np.ndarray], threshold: float) -> np.ndarray:
    """K probability maps [H,W] -> ids uint8 [H,W]: 1 + argmax_k p_k where that maximum is above
    `threshold`, else 0 (ties go to the lower id)."""
    if not probs:
        raise ValueError("merge_probabilities needs at least one map")
    stack = np.stack(probs)
    winner = np.argmax(stack, axis=0)
    best = np.take_along_axis(stack, winner[None], axis=0)[0]
    return np.where(best > threshold, winner + 1, 0).astype(np.uint8)


MAX_ID = 254
"""Largest object id: an indexed PNG holds 0..255 and 255 is "void"."""
MIN_BOX_PIXELS = 16
"""A first box with fewer pixels gets a warning: the first-frame rule labels almost nothing inside it."""


def small_box_warning(box: Box) -> str | None:
    """What to say about a first box of fewer than `MIN_BOX_PIXELS` pixels; None for a box large enough."""
    width, height = box[2] - box[0] + 1, box[3] - box[1] + 1
    if width * height >= MIN_BOX_PIXELS:
        return None
    return (
        f"the first box {','.join(str(v) for v in box)} is only {width}x{height} pixels (fewer than "
        f"{MIN_BOX_PIXELS}); the first-frame rule can label almost nothing in it: give x0,y0,x1,y1 around "
        "the whole object"
    )


def parse_object_prompts(boxes: Sequence[str] | None, boxes_file: str | None) -> list[tuple[int, Box, int]]:
    """[(id, box, frame it is on)] from repeated `--box [K:]x0,y0,x1,y1` (ids 1, 2, ...; `K:` a box on
    frame K, `frame_of_box`) and/or `--boxes FILE` (JSON/YAML: a list of boxes, numbered on after the
    `--box` ones, or a mapping id -> box that keeps its ids; a box is [x0, y0, x1, y1] on the first frame
    or [K, [x0, y0, x1, y1]] on frame K, as the Python API takes it). An id given twice is a `ConfigError`
    naming it."""
    found = []
    for index, text in enumerate(boxes or []):
        frame, box_text = frame_of_box(text)
        found.append((index + 1, parse_box(box_text), frame))
    if boxes_file is not None:
        document = _read_boxes_document(boxes_file)
        if isinstance(document, list):
            items = [(len(found) + index + 1, item) for index, item in enumerate(document)]
        else:
            items = [
                (checked_object_id(key, f"--boxes {boxes_file}"), item) for key, item in document.items()
            ]
        taken = {object_id: f"--box number {object_id}" for object_id, *_ in found}
        for position, (object_id, item) in enumerate(items):
            label = f"box {position + 1}" if isinstance(document, list) else f"object {object_id}"
            if object_id in taken:
                raise ConfigError(
                    f"--boxes {boxes_file}: object id {object_id} is given twice (also by "
                    f"{taken[object_id]}; repeated --box options are ids 1, 2, ...); give each object one id"
                )
            given, frame = item, 0
            if isinstance(item, list) and len(item) == 2 and type(item[0]) is int and item[0] >= 0:
                frame, item = item  # [K, [x0, y0, x1, y1]]: a box on frame K
            if not (isinstance(item, list) and len(item) == 4 and all(type(v) is int for v in item)):
                raise ConfigError(
                    f"--boxes {boxes_file}: {label} must be a list of four integers [x0, y0, x1, y1] (or "
                    f"[K, [x0, y0, x1, y1]] for a box on frame K), got {given!r}"
                )
            try:
                found.append((object_id, parse_box(",".join(str(v) for v in item)), frame))
            except ConfigError:
                raise ConfigError(
                    f"--boxes {boxes_file}: {label} {item} must have x0 <= x1 and y0 <= y1 (left, top, "
                    "right, bottom pixel, inclusive)"
                ) from None
            taken[object_id] = "the file"
    if len(found) > MAX_OBJECTS:
        raise ConfigError(f"{len(found)} objects given; at most {MAX_OBJECTS} fit in an indexed PNG")
    if found and max(object_id for object_id, *_ in found) > MAX_ID:
        raise ConfigError(f"{len(found)} objects given; numbered from 1 they pass id {MAX_ID}")
    return found


def frame_of_box(text: str) -> tuple[int, str]:
    """(frame index, box text) of a `--box` value: `K:x0,y0,x1,y1` is a box on frame K (0 = the first),
    `x0,y0,x1,y1` one on the first frame."""
    if ":" not in text:
        return 0, text
    frame, box = text.split(":", 1)
    if not frame.strip().isdigit():
        raise ConfigError(
            f"--box {text!r}: the part before ':' must be a frame index (0 = first frame), as in "
            "12:x0,y0,x1,y1"
        )
    return int(frame), box


def checked_object_id(key: object, where: str) -> int:
    """An object id from `key` (an integer, or its text as a JSON key gives it) in 1..`MAX_ID`;
    `ConfigError` starting with `where` (the option or argument it came from) otherwise."""
    try:
        value = int(str(key).strip())
    except ValueError:
        raise ConfigError(f"{where}: object id {key!r} is not an integer") from None
    if not 1 <= value <= MAX_ID:
        raise ConfigError(
            f"{where}: object id {value} must lie in 1..{MAX_ID} (0 is the background, 255 void in an "
            "indexed PNG)"
        )
    return value


def _read_boxes_document(path: str) -> list | dict:
    from lsevos.settings_text import load_document

    if not Path(path).is_file():
        raise ConfigError(
            f"--boxes {path}: no such file; give a JSON/YAML file of boxes: a mapping id -> [x0, y0, x1, y1] "
            "or a list of them"
        )
    try:
        document = load_document(path)  # JSON is YAML; a key given twice is refused
    except ConfigError as error:
        raise ConfigError(f"--boxes {error}") from None
    if not isinstance(document, list | dict) or not document:
        raise ConfigError(f"--boxes {path}: expected a non-empty list of boxes or a mapping id -> box")
    return document


def objects_of_mask(
    path: str | os.PathLike, frame_size: tuple[int, int], what: str = "--mask"
) -> list[tuple[int, np.ndarray]]:
    """The objects of a first-frame mask: [(id, bool mask [H,W])] in id order (0/255 masks: one object;
    palette id 255 is void, not an object). A missing or unreadable file is a `DataError` naming `what`,
    the option or argument that gave it."""
    fix = "give the first frame's mask as a PNG (0/255 for one object, or ids 1..K)"
    if Path(path).is_dir():
        raise DataError(f"{what} {path}: is a folder; {fix}")
    if not Path(path).is_file():
        raise DataError(f"{what} {path}: no such file; {fix}")
    try:
        with Image.open(path) as image:
            mode = image.mode
            image.verify()  # the file's structure: not an image, or truncated
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise DataError(f"{what} {path}: not a readable image; {fix}") from None
    mask = read_mask(path)  # an image that is no mask (RGB, 16-bit, ...): its message says which
    if tuple(mask.shape) != tuple(frame_size):
        raise DataError(
            f"{path}: the mask is {mask.shape[1]}x{mask.shape[0]} pixels but the frames are "
            f"{frame_size[1]}x{frame_size[0]}; give the first frame's mask at the frames' resolution"
        )
    ids = [int(value) for value in np.unique(mask) if value not in (0, 255)]
    if len(ids) > 1 and mode == "L":
        raise DataError(
            f"{path}: a grey mask with {len(ids)} grey levels ({', '.join(map(str, ids[:5]))}, ...), "
            "antialiased edges or a greyscale image? Give a 0/255 mask for one object or an indexed "
            "(palette) PNG with ids 1..K"
        )
    if not ids:
        raise DataError(f"{path}: the mask is empty; draw the objects (ids 1..K) or use --box")
    return [(value, mask == value) for value in ids]


def first_box(mask: np.ndarray) -> Box:
    box = box_from_mask(mask)
    assert box is not None  # objects_of_mask returns non-empty masks only
    return box


def _object_boxes(document: Mapping) -> dict:
    """One object's entry of a merged boxes.json: its frames' boxes, search boxes and, when the tracker's
    recovery looked at frames, those frames."""
    entry = {"frames": document["frames"], "search": document.get("search")}
    if "recovery" in document:
        entry["recovery"] = document["recovery"]
    return entry


def write_merged(
    object_dirs: Mapping[int, Path], out_dir: Path, threshold: float, progress: Progress | None = None
) -> int:
    """Merge the objects' scan folders into `out_dir` (already a temporary folder): masks/ and boxes.json;
    returns the frame count."""
    documents = {object_id: read_boxes(folder) for object_id, folder in object_dirs.items()}
    names = list(next(iter(documents.values()))["frames"])
    for object_id, document in documents.items():
        if list(document["frames"]) != names:
            raise DataError(f"{object_dirs[object_id]}: its frames differ from the other objects' scans")
    (out_dir / "masks").mkdir(parents=True)
    ids = sorted(object_dirs)
    lookup = np.array([0, *ids], dtype=np.uint8)  # merged index k -> object id (0: background)
    for index, name in enumerate(names):
        probs = [read_probability(object_dirs[i] / "probs" / f"{name}.png") for i in ids]
        merged = merge_probabilities(probs, threshold)
        write_mask(out_dir / "masks" / f"{name}.png", lookup[merged])
        if progress is not None and (index + 1) % 25 == 0:
            progress(f"segment: merged {index + 1}/{len(names)} frames")
    first = documents[ids[0]]
    boxes = {
        "image_size": first.get("image_size"),
        "objects": {str(i): _object_boxes(documents[i]) for i in ids},
    }
    (out_dir / "boxes.json").write_text(json.dumps(boxes, indent=1))
    return len(names)


def boxes_per_object(document: dict) -> dict[int, dict]:
    """{id: {frame: box or None}} of a scan's or a merged folder's boxes.json (a scan is object 1)."""
    if "objects" in document:
        return {int(key): value["frames"] for key, value in document["objects"].items()}
    return {1: document["frames"]}
