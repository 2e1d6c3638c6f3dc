"""lsevos.data.download against a local HTTP server on 127.0.0.1 with Range support."""

import hashlib
import io
import json
import shutil
import socket
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lsevos.data.download import DOWNLOADS, Download, fetch
from lsevos.errors import DataError


def _archive(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("tiny/readme.txt", text)
        bundle.writestr("tiny/frames/00000.txt", "frame zero " * 500)
    return buffer.getvalue()


class _Server:
    """Serves `self.body` at /tiny.zip; honours `Range: bytes=N-`; can cut the next response off halfway."""

    def __init__(self):
        self.body = b""
        self.cut_next = False
        self.ranges: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.ranges.append(self.headers.get("Range"))
                body, start = server.body, 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if server.cut_next:
                    server.cut_next = False
                    self.wfile.write(body[start : start + (len(body) - start) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body[start:])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/tiny.zip"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server():
    serving = _Server()
    yield serving
    serving.close()


def _download(url: str, body: bytes | None) -> Download:
    md5 = hashlib.md5(body).hexdigest() if body is not None else None
    return Download("tiny", url, "tiny.zip", md5, "tiny", "https://example.org/tiny")


def _files(folder: Path) -> list[str]:
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())


def test_good_archive_is_downloaded_verified_and_unpacked(server, tmp_path):
    server.body = _archive("good")
    root = fetch(_download(server.url, server.body), tmp_path, retry_wait=0)
    assert root == tmp_path / "tiny" / "tiny"
    assert (root / "readme.txt").read_text() == "good"
    assert _files(tmp_path) == ["archives/tiny.zip", "tiny/tiny/frames/00000.txt", "tiny/tiny/readme.txt"]
    assert server.ranges == [None]
    assert fetch(_download(server.url, server.body), tmp_path) == root  # unpacked folder is reused
    assert len(server.ranges) == 1


def test_corrupted_archive_fails_the_checksum_and_unpacks_nothing(server, tmp_path):
    good = _archive("good")
    server.body = good[:-10] + b"0123456789"
    with pytest.raises(DataError, match=r"tiny\.zip\.part: checksum mismatch \(md5 .*the file was deleted"):
        fetch(_download(server.url, good), tmp_path, retry_wait=0)
    assert _files(tmp_path) == []
    assert not (tmp_path / "tiny").exists()


def test_cut_off_transfer_resumes_with_a_range_request(server, tmp_path):
    server.body = _archive("resumed")
    half = len(server.body) // 2
    server.cut_next = True
    download = _download(server.url, server.body)
    expected = f"cut off after 1 attempts; run the command again to resume from byte {half},"
    with pytest.raises(DataError, match=expected):
        fetch(download, tmp_path, attempts=1, retry_wait=0)
    assert (tmp_path / "archives" / "tiny.zip.part").stat().st_size == half
    assert not (tmp_path / "tiny").exists()
    root = fetch(download, tmp_path, retry_wait=0)
    assert (root / "readme.txt").read_text() == "resumed"
    assert server.ranges == [None, f"bytes={half}-"]
    assert not (tmp_path / "archives" / "tiny.zip.part").exists()


def test_cut_off_transfer_is_retried_within_one_call(server, tmp_path):
    server.body = _archive("retried")
    server.cut_next = True
    root = fetch(_download(server.url, server.body), tmp_path, attempts=2, retry_wait=0)
    assert (root / "readme.txt").read_text() == "retried"
    assert server.ranges == [None, f"bytes={len(server.body) // 2}-"]


def test_unreachable_url_says_which_file_to_place_where(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/tiny.zip"
    body = _archive("by hand")
    download = _download(url, body)
    archive = tmp_path / "archives" / "tiny.zip"
    expected = f"cannot reach {url}.*tiny.zip by hand from {url}.*put it at {archive}"
    with pytest.raises(DataError, match=expected):
        fetch(download, tmp_path, retry_wait=0)
    assert not (tmp_path / "tiny").exists()
    archive.write_bytes(body)  # what the user does
    assert (fetch(download, tmp_path) / "readme.txt").read_text() == "by hand"


def test_without_published_checksum_the_first_download_is_locked(server, tmp_path):
    server.body = _archive("first")
    fetch(_download(server.url, None), tmp_path, retry_wait=0)
    lock = tmp_path / "archives" / "tiny.zip.sha256"
    assert lock.read_text() == f"{hashlib.sha256(server.body).hexdigest()}  tiny.zip\n"
    # A later, different copy is refused against the lock file and removed.
    (tmp_path / "archives" / "tiny.zip").unlink()
    shutil.rmtree(tmp_path / "tiny")
    server.body = _archive("second")
    with pytest.raises(DataError, match=r"checksum mismatch \(sha256 .*the lock file"):
        fetch(_download(server.url, None), tmp_path, retry_wait=0)
    assert _files(tmp_path) == ["archives/tiny.zip.sha256"]


def test_tgz_archive_is_unpacked(server, tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        data = b"from a tarball"
        member = tarfile.TarInfo("tiny/readme.txt")
        member.size = len(data)
        bundle.addfile(member, io.BytesIO(data))
    server.body = buffer.getvalue()
    download = Download("tiny", server.url, "tiny.tgz", hashlib.md5(server.body).hexdigest(), "tiny", "x")
    assert (fetch(download, tmp_path, retry_wait=0) / "readme.txt").read_bytes() == b"from a tarball"


def test_unreadable_archive_without_checksum_is_deleted(server, tmp_path):
    server.body = b"PK\x03\x04 this is not really a zip file" * 20
    with pytest.raises(DataError, match=r"tiny\.zip: cannot unpack .*the archive was deleted"):
        fetch(_download(server.url, None), tmp_path, retry_wait=0)
    assert _files(tmp_path) == []


def test_archive_without_the_expected_root_is_rejected(server, tmp_path):
    server.body = _archive("x")
    download = Download("tiny", server.url, "tiny.zip", None, "elsewhere", "https://example.org")
    with pytest.raises(DataError, match=r"has no folder elsewhere \(top level: tiny\)"):
        fetch(download, tmp_path, retry_wait=0)
    assert _files(tmp_path) == ["archives/tiny.zip"]


def test_download_table():
    assert set(DOWNLOADS) == {"davis2016", "segtrackv2", "voc2012", "sbd"}
    assert DOWNLOADS["voc2012"].md5 == "6cd6e144f989b92b3379bac3b3de84fd"
    assert DOWNLOADS["sbd"].md5 == "82b4d87ceb2ed10f6038a1cba92111cb"
    assert DOWNLOADS["davis2016"].filename == "DAVIS-data.zip"
    assert DOWNLOADS["segtrackv2"].filename == "SegTrackv2.zip"


def _davis_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


GOOD_DAVIS = {
    "DAVIS/JPEGImages/480p/seq/00000.jpg": b"jpeg",
    "DAVIS/Annotations/480p/seq/00000.png": b"png",
    "DAVIS/Annotations/db_info.yml": b"sequences: []\n",
    "DAVIS/ImageSets/480p/val.txt": b"/JPEGImages/480p/seq/00000.jpg /Annotations/480p/seq/00000.png\n",
}


def test_an_archive_without_the_dataset_layout_is_neither_unpacked_nor_locked(tmp_path, monkeypatch):
    """A zip holding only DAVIS/README.txt is neither unpacked nor its checksum recorded (the right archive
    placed later would be refused against it): the layout is checked before anything is recorded, the
    wrong archive kept, and the message says to delete it."""
    from lsevos.data.download import download_dataset

    monkeypatch.delenv("LSEVOS_DOWNLOAD_REGISTRY", raising=False)
    archive = tmp_path / "archives" / "DAVIS-data.zip"
    archive.parent.mkdir()
    archive.write_bytes(_davis_zip({"DAVIS/README.txt": b"not the data"}))
    with pytest.raises(
        DataError, match=r"DAVIS-data\.zip: DAVIS/ lacks JPEGImages/480p/\*/00000\.jpg.*nothing.*delete it"
    ):
        download_dataset("davis2016", tmp_path)
    assert _files(tmp_path) == ["archives/DAVIS-data.zip"]  # no lock, nothing unpacked
    archive.write_bytes(_davis_zip(GOOD_DAVIS))  # the user places the right one
    root = download_dataset("davis2016", tmp_path)
    assert (root / "ImageSets" / "480p" / "val.txt").is_file()
    assert (tmp_path / "archives" / "DAVIS-data.zip.sha256").is_file()


def test_a_lock_mismatch_names_the_lock_file_and_how_to_reset_it(server, tmp_path):
    server.body = _archive("first")
    fetch(_download(server.url, None), tmp_path, retry_wait=0)
    (tmp_path / "archives" / "tiny.zip").unlink()
    shutil.rmtree(tmp_path / "tiny")
    server.body = _archive("second")
    lock = tmp_path / "archives" / "tiny.zip.sha256"
    with pytest.raises(DataError, match=rf"delete {lock} and {tmp_path / 'tiny'} to accept a new one"):
        fetch(_download(server.url, None), tmp_path, retry_wait=0)


def test_a_mirror_registry_serves_an_archive_from_127_0_0_1(server, tmp_path, monkeypatch, capfd):
    from lsevos.data.download import download_dataset, registry

    server.body = _davis_zip(GOOD_DAVIS)
    entries = {"davis2016": {"url": server.url, "md5": hashlib.md5(server.body).hexdigest()}}
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(entries))
    monkeypatch.setenv("LSEVOS_DOWNLOAD_REGISTRY", str(path))
    assert registry()["davis2016"].url == server.url and registry()["voc2012"] == DOWNLOADS["voc2012"]
    root = download_dataset("davis2016", tmp_path / "resources")
    assert root == tmp_path / "resources" / "davis2016" / "DAVIS"
    assert f"from {server.url}" in capfd.readouterr().err
    # The published pins stay in force for the real URLs.
    path.write_text(json.dumps({"voc2012": {"url": DOWNLOADS["voc2012"].url, "md5": "0" * 32}}))
    with pytest.raises(DataError, match="keeps the published URL but changes its published MD5"):
        registry()
    path.write_text(json.dumps({"sbd": {"url": server.url, "md5": None}}))
    with pytest.raises(DataError, match="sbd has a published MD5; a mirror entry must give the MD5"):
        registry()
    path.write_text(json.dumps({"imagenet": {"url": server.url}}))
    with pytest.raises(DataError, match="entry 'imagenet' must be one of davis2016"):
        registry()
    for url in ("not a url", 7, "ftp://example.org/x.zip"):
        path.write_text(json.dumps({"davis2016": {"url": url}}))
        with pytest.raises(DataError, match=r"davis2016's url .* is not an http\(s\):// or file:// URL"):
            registry()
