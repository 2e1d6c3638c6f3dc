"""Fixtures shared by the tests: the repository, the real data beside it (`../shared`), a tiny model.

Tests that read the real data ask for the `shared_root` fixture (or one built on it); without the folder
they are skipped with the reason, and the summary counts them, so a fresh clone runs the rest.
`LSEVOS_SHARED=PATH` reads the data from another folder.
"""

import functools
import os
import threading
from collections.abc import Mapping
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import MappingProxyType

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LSEVOS_SHARED") or REPO.parent / "shared")
MISSING_SHARED = f"needs the real test data folder {SHARED} (clone the project beside `shared/`)"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_root() -> Path:
    if not SHARED.is_dir():
        pytest.skip(MISSING_SHARED)
    return SHARED


def pytest_terminal_summary(terminalreporter) -> None:
    """Counts the tests skipped for want of ../shared (a fresh clone without the real data)."""
    reports = terminalreporter.stats.get("skipped", [])
    skipped = [report for report in reports if MISSING_SHARED in str(report.longrepr)]
    if skipped:
        terminalreporter.write_line(f"{len(skipped)} tests skipped: no real test data folder {SHARED}")


@pytest.fixture(scope="session")
def davis_root(shared_root: Path) -> Path:
    """The DAVIS 2016 val subset in ../shared (10 sequences, every frame and mask; read only)."""
    return shared_root / "data" / "davis2016"


@pytest.fixture(scope="session")
def segtrack_root(shared_root: Path) -> Path:
    """SegTrack v2 `bmx` object 2 in the release layout in ../shared (read only)."""
    return shared_root / "data" / "segtrackv2"


@pytest.fixture(scope="session")
def oracle_root(shared_root: Path) -> Path:
    """The DAVIS metric oracle (5 sequences): predictions, official per-frame / per-sequence numbers."""
    return shared_root / "fixtures" / "davis_metric_oracle"


@pytest.fixture(scope="session")
def leaderboard_root(shared_root: Path) -> Path:
    """Official DAVIS 2016 leaderboard per-frame values and aggregates."""
    return shared_root / "fixtures" / "davis_leaderboard"


@pytest.fixture(scope="session")
def smallest_benchmark() -> Mapping[str, object]:
    """Built-in benchmark settings at their smallest sizes (64 px images and videos of 8 frames, one
    validation image); a test adds its training images and sequences: `{**smallest_benchmark, ...}`."""
    images = {"static_val": 1, "static_size": 64}
    videos = {"video_width": 64, "video_height": 64, "video_frames": 8, "segtrack_frames": 8}
    return MappingProxyType({**images, **videos})


def demo_config() -> dict:
    import yaml

    return yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


@pytest.fixture(scope="session")
def demo_models(tmp_path_factory) -> dict:
    """The demo's pretraining, exactly as `config/demo.yaml` sets it, on the built-in benchmark (seed 0).

    Returns `{"bench": root, "fp": FP-only checkpoint, "joint": stage-3 checkpoint, "checkpoints": {stage:
    path}, "logs": {stage: csv}, "crop": pretraining crop, "video": the demo's video settings, "work":
    scratch folder}`. One torch thread, as the demo's jobs run.
    """
    import torch

    from lsevos.data.synthetic import generate_benchmark
    from lsevos.train.pretrain import PretrainSettings, pretrain

    config = demo_config()
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("demo")
    bench = root / "bench"
    generate_benchmark(
        bench, config["data"]["synthetic"]["seed"], {"sequences": ["lookalike-cross", "lookalike-pass"]}
    )
    spec = {"sources": [{"kind": "static", "root": str(bench / "static"), "split": "train"}]}
    checkpoints, logs = {}, {}
    for stage, init in (("fp", None), ("1", None), ("2", "1"), ("3", "2")):
        block = config["pretrain"]["fp" if stage == "fp" else f"stage{stage}"]
        settings = PretrainSettings.from_dict({**config["pretrain"]["model"], **block})
        logs[stage] = root / f"stage{stage}.csv"
        checkpoints[stage] = pretrain(
            stage,
            spec,
            settings,
            root / f"stage{stage}.pt",
            logs[stage],
            init=None if init is None else checkpoints[init],
        )
    torch.set_num_threads(previous)
    return {
        "bench": bench,
        "fp": checkpoints["fp"],
        "joint": checkpoints["3"],
        "checkpoints": checkpoints,
        "logs": logs,
        "crop": config["pretrain"]["stage3"]["crop"],
        "video": config["video"],
        "work": root,
    }


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised tiny LSENet (embed_dim 8), seeded, saved with `save_checkpoint`."""
    import torch

    from lsevos.model.lse_net import LSENet
    from lsevos.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("checkpoint") / "tiny.pt"
    save_checkpoint(path, LSENet("tiny", embed_dim=8), step=0, config={"stage": "test"})
    return path


@pytest.fixture
def served(tmp_path):
    """(folder, base URL): the files of `folder` served by http.server on 127.0.0.1, in a thread."""
    folder = tmp_path / "served"
    folder.mkdir()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()
