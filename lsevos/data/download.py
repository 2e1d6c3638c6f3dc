"""Downloads of the real datasets: resumable, checksummed, unpacked atomically.

Under `resources/`: `archives/<file>` (the verified archive), `archives/<file>.part` (an unfinished
transfer, resumed with an HTTP Range request), `archives/<file>.sha256` (lock file, see below) and
`<name>/` (the unpacked archive, renamed into place only when unpacking succeeded).

Checksums: VOC 2012 and SBD have published MD5s, checked on every unpack. DAVIS 2016 and SegTrack v2 publish
none: the first download whose unpacked folder has the dataset's layout (`Download.layout`: frames, masks
and lists where they belong, not just the top folder) records its SHA-256 in the lock file
`archives/<file>.sha256` (`sha256sum -c` format) and every later copy (downloaded or placed by hand) must
match it. A mismatching file is deleted and the error names the lock file and how to reset it.

Mirrors: `$LSEVOS_DOWNLOAD_REGISTRY` may name a JSON file `{"<name>": {"url": URL, "md5": MD5}, ...}` that
replaces the URL (and the MD5) of some archives, e.g. an institute's mirror or the test server of `make
paper-smoke`. An entry that keeps the published URL must keep its published MD5: the pins stay in force.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.client
import json
import os
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from lsevos.data.io import atomic_output
from lsevos.errors import DataError

CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Download:
    """One archive: where to get it, its published MD5 (None: lock file), the dataset root inside it."""

    name: str
    url: str
    filename: str
    md5: str | None
    root: str
    homepage: str
    layout: tuple[str, ...] = ()
    """Glob patterns, relative to `root`, each of which must match something in a genuine release."""


DOWNLOADS: dict[str, Download] = {
    download.name: download
    for download in (
        Download(
            name="davis2016",
            url="https://graphics.ethz.ch/Downloads/Data/Davis/DAVIS-data.zip",
            filename="DAVIS-data.zip",
            md5=None,
            root="DAVIS",
            homepage="https://davischallenge.org/davis2016/code.html",
            layout=(
                "JPEGImages/480p/*/00000.jpg",
                "Annotations/480p/*/00000.png",
                "Annotations/db_info.yml",
                "ImageSets/480p/val.txt",
            ),
        ),
        Download(
            name="segtrackv2",
            url="https://web.engr.oregonstate.edu/~lif/SegTrack2/SegTrackv2.zip",
            filename="SegTrackv2.zip",
            md5=None,
            root="SegTrackv2",
            homepage="https://web.engr.oregonstate.edu/~lif/SegTrack2/dataset.html",
            layout=("JPEGImages/*/*", "GroundTruth/*/*"),
        ),
        Download(
            name="voc2012",
            url="http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
            filename="VOCtrainval_11-May-2012.tar",
            md5="6cd6e144f989b92b3379bac3b3de84fd",
            root="VOCdevkit/VOC2012",
            homepage="http://host.robots.ox.ac.uk/pascal/VOC/voc2012/",
            layout=(
                "JPEGImages/*.jpg",
                "SegmentationObject/*.png",
                "SegmentationClass/*.png",
                "ImageSets/Segmentation/train.txt",
                "ImageSets/Segmentation/val.txt",
            ),
        ),
        Download(
            name="sbd",
            url="http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/benchmark.tgz",
            filename="benchmark.tgz",
            md5="82b4d87ceb2ed10f6038a1cba92111cb",
            root="benchmark_RELEASE/dataset",
            homepage="https://home.bharathh.info/pubs/codes/SBD/download.html",
            layout=("img/*.jpg", "inst/*.mat", "cls/*.mat", "train.txt", "val.txt"),
        ),
    )
}


REGISTRY_ENV = "LSEVOS_DOWNLOAD_REGISTRY"


def registry() -> dict[str, Download]:
    """`DOWNLOADS` with the mirror entries of `$LSEVOS_DOWNLOAD_REGISTRY` applied (see the module doc)."""
    path = os.environ.get(REGISTRY_ENV)
    if not path:
        return dict(DOWNLOADS)
    try:
        entries = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise DataError(f"{path} (${REGISTRY_ENV}): unreadable download registry ({error})") from None
    if not isinstance(entries, dict):
        raise DataError(f'{path} (${REGISTRY_ENV}): expected {{"<name>": {{"url": ..., "md5": ...}}}}')
    result = dict(DOWNLOADS)
    for name, entry in entries.items():
        if name not in DOWNLOADS or not isinstance(entry, dict) or not set(entry) <= {"url", "md5"}:
            raise DataError(
                f"{path} (${REGISTRY_ENV}): entry {name!r} must be one of {', '.join(DOWNLOADS)} with keys "
                "url and md5"
            )
        published = DOWNLOADS[name]
        url, md5 = entry.get("url", published.url), entry.get("md5", published.md5)
        if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https", "file"):
            raise DataError(
                f"{path} (${REGISTRY_ENV}): {name}'s url {url!r} is not an http(s):// or file:// URL; give "
                "one, or remove the entry"
            )
        if md5 is not None:
            md5 = checked_digest(md5, "md5", f"{path} (${REGISTRY_ENV}): {name}")
        if published.md5 is not None and md5 is None:
            raise DataError(
                f"{path} (${REGISTRY_ENV}): {name} has a published MD5; a mirror entry must give the MD5 of "
                "its archive (md5: null would accept whatever arrives first)"
            )
        if url == published.url and md5 != published.md5:
            raise DataError(
                f"{path} (${REGISTRY_ENV}): {name} keeps the published URL but changes its published MD5; "
                "the pins of the real URLs stay in force"
            )
        result[name] = dataclasses.replace(published, url=url, md5=md5)
    return result


DIGEST_LENGTHS = {"md5": 32, "sha256": 64}


def checked_digest(value: object, algorithm: str, where: str) -> str:
    """A hex digest as compared: lower case (tools print either case), checked to be `algorithm`'s length
    of hex digits; `DataError` naming `where` otherwise."""
    length = DIGEST_LENGTHS[algorithm]
    text = value.strip().lower() if isinstance(value, str) else ""
    if len(text) != length or any(char not in "0123456789abcdef" for char in text):
        raise DataError(
            f"{where}: {algorithm} {value!r} is not {length} hex digits; copy the checksum as "
            f"`{algorithm}sum` prints it"
        )
    return text


def _log(message: str) -> None:
    print(f"download: {message}", file=sys.stderr, flush=True)


def _by_hand(download: Download, archive: Path) -> str:
    return (
        f"download {download.filename} by hand from {download.url} (or via {download.homepage}), put it at "
        f"{archive}, then run the same command again"
    )


def _replace(download: Download, archive: Path) -> str:
    """The fix for a wrong archive that is kept (it may be the user's own copy): its removal first."""
    return f"delete it and run the same command again to download it anew, or {_by_hand(download, archive)}"


def _file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _lock_path(archive: Path) -> Path:
    return archive.with_name(archive.name + ".sha256")


def _verify(download: Download, path: Path, archive: Path) -> None:
    """Check `path` (archive or .part) against the published MD5 or the lock file; delete it if wrong."""
    if download.md5 is not None:
        algorithm, expected, source = "md5", download.md5, "the published MD5"
    elif _lock_path(archive).is_file():
        algorithm, source = "sha256", f"the lock file {_lock_path(archive)}"
        words = _lock_path(archive).read_text().split()
        expected = checked_digest(words[0] if words else "", "sha256", str(_lock_path(archive)))
    else:
        return
    expected = expected.lower()
    _log(f"checking the {algorithm} of {path.name}")
    actual = _file_digest(path, algorithm)
    if actual != expected:
        path.unlink()
        unpacked = archive.parent.parent / download.name
        reset = (
            f" If that lock came from a wrong archive, delete {_lock_path(archive)} and {unpacked} to accept "
            "a new one."
            if download.md5 is None
            else ""
        )
        raise DataError(
            f"{path}: checksum mismatch ({algorithm} {actual}, {source} says {expected}); the file was "
            f"deleted. Run the command again to download it anew, or {_by_hand(download, archive)}.{reset}"
        )


def _transfer(url: str, part: Path, timeout: float) -> bool:
    """Fetch `url` into `part`, resuming from its size; True when the body arrived complete."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            return True
        raise
    with response:
        resumed = offset > 0 and response.status == 206
        if not resumed:
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        written, last_report = offset, time.monotonic()
        with open(part, "ab" if resumed else "wb") as stream:
            _log(f"{part.name}: {'resuming at byte ' + str(offset) if resumed else 'starting'} from {url}")
            try:
                while chunk := response.read(CHUNK_BYTES):
                    stream.write(chunk)
                    written += len(chunk)
                    if time.monotonic() - last_report > 5:
                        last_report = time.monotonic()
                        _log(f"{part.name}: {written / 1e6:.1f} of {(total or 0) / 1e6:.1f} MB")
            except (http.client.HTTPException, ConnectionError, TimeoutError):
                return False
    return total is None or written >= total


def _download(download: Download, archive: Path, attempts: int, retry_wait: float, timeout: float) -> None:
    part = archive.with_name(archive.name + ".part")
    archive.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, attempts + 1):
        try:
            complete = _transfer(download.url, part, timeout)
        except urllib.error.HTTPError as error:
            raise DataError(
                f"{download.url}: HTTP {error.code} {error.reason}; {_by_hand(download, archive)}"
            ) from None
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as error:
            reason = getattr(error, "reason", error)
            raise DataError(
                f"cannot reach {download.url} ({reason}): no network? {_by_hand(download, archive)}"
            ) from None
        if complete:
            _verify(download, part, archive)
            os.replace(part, archive)
            return
        _log(f"{part.name}: cut off at {part.stat().st_size} bytes (attempt {attempt} of {attempts})")
        if attempt < attempts:
            time.sleep(retry_wait)
    raise DataError(
        f"{part}: transfer of {download.url} cut off after {attempts} attempts; run the command again to "
        f"resume from byte {part.stat().st_size}, or {_by_hand(download, archive)}"
    )


def _extract(archive: Path, folder: Path) -> None:
    """Unpack a zip (member paths are sanitised by zipfile) or a tar (the 'data' filter) into `folder`."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(folder)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as bundle:
            bundle.extractall(folder, filter="data")
    else:
        raise tarfile.ReadError("neither a zip nor a tar archive")


def _unpack(download: Download, archive: Path, target: Path) -> None:
    _log(f"unpacking {archive.name} into {target}")
    try:
        with atomic_output(target) as temporary:
            temporary.mkdir()
            _extract(archive, temporary)
            if not (temporary / download.root).is_dir():
                found = ", ".join(sorted(path.name for path in temporary.iterdir())) or "nothing"
                raise DataError(
                    f"{archive}: has no folder {download.root} (top level: {found}); it is not the release "
                    f"this project expects (kept): {_replace(download, archive)}"
                )
            absent = [p for p in download.layout if next((temporary / download.root).glob(p), None) is None]
            if absent:
                raise DataError(
                    f"{archive}: {download.root}/ lacks {', '.join(absent)}; it is not the release this "
                    f"project expects (kept; nothing was unpacked or recorded): {_replace(download, archive)}"
                )
    except (zipfile.BadZipFile, tarfile.TarError, gzip.BadGzipFile, EOFError, zlib.error) as error:
        archive.unlink()
        raise DataError(
            f"{archive}: cannot unpack ({error}); the archive was deleted. Run the command again to download "
            f"it anew, or {_by_hand(download, archive)}"
        ) from None


def fetch(
    download: Download,
    resources: str | os.PathLike,
    *,
    attempts: int = 3,
    retry_wait: float = 5.0,
    timeout: float = 60.0,
) -> Path:
    """Download (or reuse), verify and unpack `download` under `resources`; returns the dataset root.

    An unpacked folder `resources/<name>` is trusted as is (it only appears once unpacking succeeded).
    """
    resources = Path(resources)
    target = resources / download.name
    if not target.is_dir():
        archive = resources / "archives" / download.filename
        if archive.is_file():
            _verify(download, archive, archive)
        else:
            _download(download, archive, attempts, retry_wait, timeout)
        _unpack(download, archive, target)
        if download.md5 is None and not _lock_path(archive).is_file():
            digest = _file_digest(archive, "sha256")
            with atomic_output(_lock_path(archive)) as temporary:
                temporary.write_text(f"{digest}  {download.filename}\n")
            _log(f"recorded sha256 {digest} of {download.filename} in {_lock_path(archive)}")
    return target / download.root


def download_dataset(name: str, resources: str | os.PathLike) -> Path:
    """`fetch` the dataset `name` (one of `DOWNLOADS`); returns its root folder."""
    downloads = registry()
    if name not in downloads:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(downloads)}")
    return fetch(downloads[name], resources)
