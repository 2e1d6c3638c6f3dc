"""Who may write an output: the record of the single files a command wrote, and one run per output.

Files: a command that writes a single file (a checkpoint, a CSV, an overlay video, a table) claims it
before any work (`claim_file`). An existing file is replaced only when lsevos wrote it: the hidden record
`.NAME.lsevos-output` beside it holds the SHA-256 and size of what was written, so a file a user put there,
or replaced by hand after a run, is refused by name. The record is written just before the rename that
puts the new file in place (accepting the old and the new content until it is rewritten with the new one
only), so a kill between the two never turns a file lsevos wrote into a foreign one.

Folders keep their own marker inside them (`lsevos.data.io.OUTPUT_MARKER`).

Locks: `lock_output(path)` takes an exclusive `flock` on the hidden file `.NAME.lock` beside the output,
holding the pid and command of the run. A second run on the same output is refused at once, naming the
first; the kernel drops the lock when a process dies, so the lock file of a killed run is simply taken
over. Locks and claims last until `release_outputs()` (called by the `lsevos` command at its end) or the
process exits.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from lsevos.errors import DataError

RECORD_SUFFIX = ".lsevos-output"
LOCK_SUFFIX = ".lock"
_CHUNK = 1 << 20

_claimed: set[Path] = set()
_locks: dict[Path, tuple[int, Path, int]] = {}  # resolved output -> (fd, lock file, pid that took it)
_made: dict[Path, list[Path]] = {}  # resolved output -> the folders made for its lock file, deepest first


def _absolute(path: str | os.PathLike) -> Path:
    """The key of an output: its absolute path with symlinks resolved (two spellings, one output)."""
    return Path(os.path.realpath(path))


def record_path(path: str | os.PathLike) -> Path:
    """The hidden record beside a single-file output: `.NAME.lsevos-output`."""
    path = Path(path)
    return path.with_name(f".{path.name}{RECORD_SUFFIX}")


def lock_path(path: str | os.PathLike) -> Path:
    """The hidden lock file beside an output (file or folder): `.NAME.lock`."""
    path = Path(path)
    return path.with_name(f".{path.name}{LOCK_SUFFIX}")


def file_digest(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _recorded(path: Path) -> list[dict]:
    try:
        document = json.loads(record_path(path).read_text())
        entries = document["files"]
        return [entry for entry in entries if {"sha256", "size"} <= set(entry)]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def owns_file(path: str | os.PathLike) -> bool:
    """True when the file at `path` is one lsevos wrote: its record names its size and SHA-256."""
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        return False
    entries = _recorded(path)
    size = path.stat().st_size
    if not any(entry["size"] == size for entry in entries):
        return False
    digest = file_digest(path)
    return any(entry["sha256"] == digest and entry["size"] == size for entry in entries)


def refuse_foreign_file(path: str | os.PathLike, what: str = "--out") -> None:
    """`DataError` when `path` exists and lsevos did not write it (no matching record)."""
    path = Path(path)
    if (path.exists() or path.is_symlink()) and not path.is_dir() and not owns_file(path):
        raise DataError(
            f"{path}: {what} is an existing file that lsevos did not write; lsevos replaces only files it "
            "wrote itself: give a new file name, or move or delete this file yourself"
        )


def claim_file(path: str | os.PathLike, what: str = "--out") -> Path:
    """Refuse a foreign existing file at `path` and record that this process writes it: the atomic rename
    that puts it in place (`lsevos.data.io.atomic_output`) then records it as written by lsevos."""
    refuse_foreign_file(path, what)
    _claimed.add(_absolute(path))
    return Path(path)


def is_claimed(path: str | os.PathLike) -> bool:
    return _absolute(path) in _claimed


def _write_record(path: Path, entries: list[dict]) -> None:
    record = record_path(path)
    temporary = record.with_name(f"{record.name}.{os.getpid()}")
    try:
        temporary.write_text(json.dumps({"files": entries, "written_by": "lsevos"}) + "\n")
        os.replace(temporary, record)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def before_replace(path: str | os.PathLike, new: str | os.PathLike) -> list[dict] | None:
    """Called with the finished temporary `new` just before it is renamed onto the claimed `path`: refuse a
    foreign file that appeared at `path` meanwhile, and record both the old (owned) and the new content.
    Returns the new entry list (for `after_replace`), None when `path` is not claimed."""
    path = Path(path)
    if not is_claimed(path) or Path(new).is_dir():
        return None
    refuse_foreign_file(path, "the output")
    new_entry = {"sha256": file_digest(new), "size": Path(new).stat().st_size}
    old = _recorded(path) if path.is_file() else []
    _write_record(path, [new_entry, *old])
    return [new_entry]


def after_replace(path: str | os.PathLike, entries: list[dict] | None) -> None:
    """Narrow the record to the new content once it is in place (best effort: the record written by
    `before_replace` already accepts it)."""
    if entries is not None:
        try:
            _write_record(Path(path), entries)
        except OSError:
            pass


def _holder(lock: Path) -> str:
    try:
        text = lock.read_text().strip()
    except OSError:
        text = ""
    return text or "a process that has not written its pid yet"


def lock_output(path: str | os.PathLike, what: str = "--out") -> Path:
    """Take the lock of output `path` for this process (again: no-op); `DataError` naming the running
    holder when another process has it. The lock of a dead process is taken over. Returns the lock file."""
    resolved = _absolute(path)
    if resolved in _locks:
        return _locks[resolved][1]
    try:
        import fcntl
    except ImportError:  # not a POSIX system: no locking
        return lock_path(resolved)
    lock = lock_path(resolved)
    missing = [folder for folder in (lock.parent, *lock.parent.parents) if not folder.exists()]
    while True:
        lock.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # another run removed the (empty) folder it had made: make it again
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(descriptor)
            raise DataError(
                f"{path}: {what} is being written by another lsevos run ({_holder(lock)}); wait for it to "
                "end, or give this run another output"
            ) from None
        try:
            same = os.fstat(descriptor).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(descriptor)  # the holder removed the file between our open and our lock: again
    command = " ".join(["lsevos", *sys.argv[1:]]) if sys.argv else "lsevos"
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    os.ftruncate(descriptor, 0)
    os.write(descriptor, f"pid {os.getpid()}, started {started}: {command[:300]}\n".encode())
    _locks[resolved] = (descriptor, lock, os.getpid())
    _made[resolved] = missing  # removed again at release when nothing else came into them
    return lock


def release_outputs() -> None:
    """Drop this process's claims and locks (the lock files are removed, and the folders made for them
    where they stayed empty: a refused command leaves no empty output folder)."""
    _claimed.clear()
    _release(list(_locks))


def _release(keys: list[Path]) -> None:
    made: list[Path] = []
    for key in keys:
        descriptor, lock, pid = _locks.pop(key)
        folders = _made.pop(key, [])
        if pid == os.getpid():
            made += folders
            lock.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            os.close(descriptor)
    for folder in sorted(set(made), key=lambda path: len(path.parts), reverse=True):
        with contextlib.suppress(OSError):  # a folder that holds outputs (or anything else) is kept
            folder.rmdir()


@contextlib.contextmanager
def released_at_exit() -> Iterator[None]:
    """The claims and locks taken inside the block are dropped when it ends (their lock files removed),
    those held before it kept: a library call that writes outputs (`Segmentation.save`) holds them only
    while it writes, where the `lsevos` command holds its own until it exits."""
    claimed, locked = set(_claimed), set(_locks)
    try:
        yield
    finally:
        _claimed.intersection_update(claimed)
        _release([key for key in _locks if key not in locked])
