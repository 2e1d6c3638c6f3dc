"""DVC for real, offline: a pretrained checkpoint pushed to a remote and pulled back, and `dvc metrics show`
in a fresh clone of this repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def environment(scratch: Path) -> dict[str, str]:
    """Offline and isolated: no analytics, no user or site DVC config or cache, a fixed git identity."""
    env = dict(os.environ)
    env.update(
        DVC_NO_ANALYTICS="1",
        DVC_SITE_CACHE_DIR=str(scratch / "dvc-site"),
        XDG_CONFIG_HOME=str(scratch / "config-home"),
        GIT_AUTHOR_NAME="test",
        GIT_AUTHOR_EMAIL="test@example.org",
        GIT_COMMITTER_NAME="test",
        GIT_COMMITTER_EMAIL="test@example.org",
    )
    return env


def run(*command: str | Path, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a command (`dvc` is the venv's) and require exit status 0."""
    program = str(BIN / "dvc") if command[0] == "dvc" else str(command[0])
    result = subprocess.run(
        [program, *map(str, command[1:])], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{' '.join(map(str, command))}: {result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def fp_checkpoint(tmp_path_factory, smallest_benchmark) -> Path:
    """A real FP-stage checkpoint of the tiny backbone: two steps on a few built-in static images."""
    from lsevos.data.synthetic import generate_benchmark
    from lsevos.train.pretrain import PretrainSettings, pretrain

    root = tmp_path_factory.mktemp("pretrain")
    bench = root / "bench"
    generate_benchmark(bench, 0, {**smallest_benchmark, "static_train": 4, "sequences": ["lookalike-cross"]})
    spec = {"sources": [{"kind": "static", "root": str(bench / "static"), "split": "train"}]}
    settings = PretrainSettings(
        iterations=2, batch=2, crop=33, backbone="tiny", pretrained=False, embed_dim=8, log_every=1
    )
    return pretrain("fp", spec, settings, root / "stagefp.pt", root / "stagefp_losses.csv")


@pytest.mark.slow
def test_a_checkpoint_pushed_to_a_remote_is_pulled_back_identical(tmp_path, fp_checkpoint):
    from lsevos.model.lse_net import LSENet
    from lsevos.train.checkpoint import load_checkpoint, model_from_checkpoint

    env = environment(tmp_path)
    project, remote = tmp_path / "project", tmp_path / "remote"
    project.mkdir()
    run("git", "init", "-q", cwd=project, env=env)
    run("dvc", "init", "-q", cwd=project, env=env)
    # the layout of the pretrain stage's output (results/<config>/pretrain/<fold>/), a directory as there
    pretrained = project / "results" / "demo" / "pretrain"
    (pretrained / "all").mkdir(parents=True)
    shutil.copyfile(fp_checkpoint, pretrained / "all" / "stagefp.pt")
    shutil.copyfile(fp_checkpoint.with_name("stagefp_losses.csv"), pretrained / "all" / "stagefp_losses.csv")
    original = (pretrained / "all" / "stagefp.pt").read_bytes()

    run("dvc", "add", "results/demo/pretrain", cwd=project, env=env)
    run("git", "add", "-A", cwd=project, env=env)
    run("git", "commit", "-q", "-m", "pretrained checkpoints", cwd=project, env=env)
    tracked = run("git", "ls-files", cwd=project, env=env).stdout.split()
    assert "results/demo/pretrain.dvc" in tracked
    assert not any(path.endswith(".pt") for path in tracked)  # git holds the pointer, never the weights

    run("dvc", "remote", "add", "-d", "local", remote, cwd=project, env=env)
    pushed = run("dvc", "push", cwd=project, env=env)
    assert "3 files pushed" in pushed.stdout  # the checkpoint, the loss log and the directory listing
    assert sum(1 for path in remote.rglob("*") if path.is_file()) == 3

    shutil.rmtree(pretrained)
    shutil.rmtree(project / ".dvc" / "cache")
    run("dvc", "pull", cwd=project, env=env)

    pulled = pretrained / "all" / "stagefp.pt"
    assert pulled.read_bytes() == original
    payload = load_checkpoint(pulled)
    assert payload["config"]["stage"] == "fp" and payload["config"]["settings"]["backbone"] == "tiny"
    assert isinstance(model_from_checkpoint(payload, pulled), LSENet)
    status = run("dvc", "status", cwd=project, env=env)
    assert "up to date" in status.stdout


def working_tree_files() -> list[str]:
    """The files a commit of the working tree holds: tracked and not-ignored untracked, as they are now."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [name for name in listed.split("\0") if name and (REPO / name).is_file()]


@pytest.mark.slow
def test_metrics_show_in_a_fresh_clone_loads_every_declared_metrics_file(tmp_path):
    env = environment(tmp_path)
    source, clone = tmp_path / "source", tmp_path / "clone"
    for name in working_tree_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / name, source / name)
    run("git", "init", "-q", cwd=source, env=env)
    run("git", "add", "-A", cwd=source, env=env)
    run("git", "commit", "-q", "-m", "working tree", cwd=source, env=env)
    run("git", "clone", "-q", source, clone, cwd=tmp_path, env=env)

    shown = run("dvc", "metrics", "show", "--json", cwd=clone, env=env)
    assert "failed" not in shown.stderr.lower(), shown.stderr
    configs = yaml.safe_load((clone / "dvc.yaml").read_text())["stages"]["tables"]["foreach"]
    files = yaml.safe_load(shown.stdout)[""]["data"]
    assert set(files) == {f"metrics/{config}.json" for config in configs}
    for name, entry in files.items():
        assert "error" not in entry and entry["data"], f"{name}: {entry}"
    table = run("dvc", "metrics", "show", cwd=clone, env=env).stdout  # the table a person reads
    assert all(f"metrics/{config}.json" in table for config in configs), table
