"""Frames from anywhere, and per-frame maps kept without holding a video in memory.

A *frames* object is what the adaptation reads (`Frames`): `names` (one per frame), `size` (H, W),
`len()`, iteration over `(name, frame uint8 [H,W,3] RGB)` and `read(i)` (retraining reads frames back in
random order). `open_frames` turns a user's source into one:
- a frame folder: `lsevos.data.io.FrameSource` (frames read from disk when needed);
- a video file: decoded once into numbered JPEG frames (quality 95) in the scratch folder, then read
  like a folder (what `lsevos segment` has always done: random access without decoding the video again);
- a sequence of arrays (a list, a NumPy array [N,H,W,3]): `ArrayFrames`, the arrays themselves;
- any other iterable (a generator, a camera): `StoredFrames`, each frame written as it comes into one raw
  file of the scratch folder, losslessly, so the source is read once and one frame is in memory at a time.

`MapStore` keeps N maps [H,W] (uint8: a scan's quantised probabilities or masks; float32: the prior's
maps kept for scan 2) in a raw file of the
scratch folder, written and read one frame at a time (`os.pwrite`/`os.pread`): memory stays flat in the
number of frames, and the page cache, not the process, holds what the disk is slow to give back.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from lsevos.data.io import FrameSource
from lsevos.errors import ConfigError, DataError
from lsevos.progress import Progress


class Frames(Protocol):
    """A video's frames: names, size (H, W), length, iteration over (name, frame) and random access."""

    @property
    def names(self) -> list[str]: ...

    @property
    def size(self) -> tuple[int, int]: ...

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]: ...

    def read(self, index: int) -> np.ndarray: ...


def frame_names(count: int) -> list[str]:
    """The names of frames without names of their own: 00000, 00001, ... (as a video's)."""
    return [f"{index:05d}" for index in range(count)]


def checked_frame(frame, index: int, size: tuple[int, int] | None) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise DataError(
            f"frame {index}: a frame must be an RGB array uint8 [H, W, 3], got {frame.dtype} {frame.shape}"
        )
    if size is not None and frame.shape[:2] != size:
        raise DataError(
            f"frame {index}: size {frame.shape[:2]} differs from the first frame's {size}; all frames of a "
            "video must have the same size"
        )
    return frame


class _IndexedFrames(ABC):
    """What frames read by index share: `names`, `size` and iteration as (name, frame) in order;
    subclasses set `_names` and `_size` and define `__len__` and `read`."""

    _names: list[str]
    _size: tuple[int, int]

    @property
    def names(self) -> list[str]:
        return self._names

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def read(self, index: int) -> np.ndarray: ...

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        for index, name in enumerate(self._names):
            yield name, self.read(index)


class ArrayFrames(_IndexedFrames):
    """Frames given as a sequence of RGB arrays uint8 [H,W,3] (kept as they are, not copied)."""

    def __init__(self, frames: Sequence[np.ndarray], names: Sequence[str] | None = None):
        if len(frames) == 0:
            raise DataError("the video has no frames")
        self._frames = frames
        self._size = checked_frame(frames[0], 0, None).shape[:2]
        self._names = list(names) if names is not None else frame_names(len(frames))
        if len(self._names) != len(frames):
            raise ConfigError(f"{len(self._names)} names for {len(frames)} frames")

    def __len__(self) -> int:
        return len(self._frames)

    def read(self, index: int) -> np.ndarray:
        return checked_frame(self._frames[index], index, self._size)


class StoredFrames(_IndexedFrames):
    """The frames of an iterable (a generator), written once into the raw file `path` as they come."""

    def __init__(self, frames: Iterable[np.ndarray], path: str | os.PathLike):
        self.path = Path(path)
        size: tuple[int, int] | None = None
        count = 0
        with open(self.path, "wb") as file:
            for index, frame in enumerate(frames):
                frame = checked_frame(frame, index, size)
                size = frame.shape[:2]
                file.write(np.ascontiguousarray(frame).tobytes())
                count += 1
        if size is None:
            raise DataError("the video has no frames (the frame source yielded nothing)")
        self._size = size
        self._names = frame_names(count)
        self._bytes = self._size[0] * self._size[1] * 3

    def __len__(self) -> int:
        return len(self._names)

    def read(self, index: int) -> np.ndarray:
        if not 0 <= index < len(self):
            raise IndexError(f"frame {index} out of range 0..{len(self) - 1}")
        fd = os.open(self.path, os.O_RDONLY)
        try:
            data = os.pread(fd, self._bytes, index * self._bytes)
        finally:
            os.close(fd)
        return np.frombuffer(data, dtype=np.uint8).reshape(*self._size, 3).copy()


def extract_frames(video: Path, folder: Path, progress: Progress | None = None) -> FrameSource:
    """Decode a video into numbered JPEG frames (quality 95) in `folder`, one frame in memory at a time;
    returns them as a frame folder. `progress` hears a line per tenth of the frames the header declares
    (rate and ETA), then the count; where the header declares no count, the count every 50 frames."""
    from lsevos.data.io import write_jpeg
    from lsevos.progress import Meter

    folder.mkdir(parents=True)
    source = FrameSource(video)
    what = f"decode {video.name}"
    meter = None
    if progress is not None and source.declared:
        meter = Meter(source.declared, what, "frame", progress)
    for index, (name, frame) in enumerate(source):
        write_jpeg(folder / f"{name}.jpg", frame, quality=95)  # a failed write raises, naming the file
        if meter is not None:
            meter.update()
        elif progress is not None and (index + 1) % 50 == 0:
            progress(f"{what}: {index + 1} frames (the file declares no frame count)")
    if meter is not None:
        meter.close()
    return FrameSource(folder)


def open_frames(source, scratch: Path, progress: Progress | None = None) -> Frames:
    """A `Frames` of a frame folder, a video file, a sequence of arrays or any iterable of arrays (module
    docstring); `scratch` is a folder of the caller's where a video or a generator is kept."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if path.is_file():
            source = FrameSource(path)  # refuses what is not a video, before decoding
            return extract_frames(path, scratch / "frames", progress)
        folder = FrameSource(path)
        for warning in folder.check():  # every frame readable and of one size, before any work
            if progress is not None:
                progress(f"segment: warning: {warning}")
        return folder
    if isinstance(source, FrameSource | ArrayFrames | StoredFrames):
        return source  # as given (`lsevos segment` passes the folder it has checked)
    if isinstance(source, np.ndarray) and source.ndim == 3:
        raise DataError(
            f"frames: one array {source.dtype} {source.shape} is one frame; give a list of frames or an "
            "array [N, H, W, 3]"
        )
    if isinstance(source, np.ndarray | Sequence):
        frames = ArrayFrames(source)  # type: ignore[arg-type]
        for index in range(1, len(frames)):
            checked_frame(source[index], index, frames.size)  # dtype and size only: nothing is copied
        return frames
    if isinstance(source, Iterable):
        return StoredFrames(source, scratch / "frames.raw")
    raise ConfigError(
        f"frames: {type(source).__name__} is not a frame folder, a video file, a list of RGB arrays or an "
        "iterable of them"
    )


class MapStore:
    """`count` maps [H,W] of `dtype` (uint8 by default) in the raw file `path`, written and read one at a
    time."""

    def __init__(
        self, path: str | os.PathLike, count: int, size: tuple[int, int], dtype: np.dtype | type = np.uint8
    ):
        self.path, self.count, self.size = Path(path), count, tuple(size)
        self.dtype = np.dtype(dtype)
        self._bytes = self.size[0] * self.size[1] * self.dtype.itemsize
        with open(self.path, "wb") as file:
            file.truncate(count * self._bytes)

    def __len__(self) -> int:
        return self.count

    def write(self, index: int, values: np.ndarray) -> None:
        data = np.ascontiguousarray(values, dtype=self.dtype)
        if data.shape != self.size:
            raise ValueError(f"map {index} is {data.shape}, the store holds {self.size}")
        fd = os.open(self.path, os.O_WRONLY)
        try:
            os.pwrite(fd, data.tobytes(), index * self._bytes)
        finally:
            os.close(fd)

    def read(self, index: int) -> np.ndarray:
        if not 0 <= index < self.count:
            raise IndexError(f"map {index} out of range 0..{self.count - 1}")
        fd = os.open(self.path, os.O_RDONLY)
        try:
            data = os.pread(fd, self._bytes, index * self._bytes)
        finally:
            os.close(fd)
        return np.frombuffer(data, dtype=self.dtype).reshape(self.size).copy()
