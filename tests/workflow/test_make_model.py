"""`make model` for real at toy scale: config/cpu.yaml + config/model.yaml over the real DAVIS folder, the
`model` target, then `lsevos segment` with no --checkpoint picking the model file it wrote."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from lsevos.data.io import read_mask
from lsevos.train.checkpoint import load_checkpoint
from lsevos.train.data import CopyPasteComposites
from lsevos.video.boxes import box_from_mask

SCALE = {
    "pretrain": {
        stage: {"iterations": 2, "batch": 2, "crop": 65, "log_every": 1, "checkpoint_every": 100}
        for stage in ("stage1", "stage2", "stage3")
    }
}


@pytest.mark.slow
def test_make_model_then_segment_uses_it_by_default(tmp_path, workflow, davis_root):
    makefile = (workflow.repo / "Makefile").read_text()
    assert "--configfile config/cpu.yaml config/model.yaml" in makefile  # what `make model` runs
    scale = tmp_path / "scale.yaml"
    scale.write_text(yaml.safe_dump(SCALE))
    configs = [str(workflow.repo / "config" / name) for name in ("cpu.yaml", "model.yaml")]
    result = workflow.run(
        tmp_path, "model", "--cores", "2", "--configfile", *configs, str(scale),
        "--config", f"data={{davis_root: {davis_root}}}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    model = tmp_path / "models" / "lsevos-cpu.pt"
    payload = load_checkpoint(model)
    cpu = yaml.safe_load((workflow.repo / "config" / "cpu.yaml").read_text())
    settings = payload["extra"]["video_settings"]
    assert all(settings[key] == value for key, value in cpu["video"].items())  # the cpu video settings
    data = payload["config"]["data"]["sources"]
    copy_paste = next(source for source in data if source["kind"] == "copy_paste")
    assert copy_paste["sequences"] == "all" and copy_paste["exclude"] == []
    assert payload["config"]["builtin_only"] is False
    card = (tmp_path / "models" / "lsevos-cpu.md").read_text()
    assert "EfficientNet-Lite0" in card and "2 x 2 @ 65" in card
    # every annotated sequence of the folder is cut for copy-paste
    assert Path(copy_paste["davis_root"]).resolve() == davis_root.resolve()
    composites = CopyPasteComposites(copy_paste["davis_root"], "all", exclude=copy_paste["exclude"])
    cut = {Path(frame).parent.name for frame, _ in composites.frames}
    assert cut == {path.name for path in (davis_root / "Annotations" / "480p").iterdir()} and len(cut) == 10
    log = (tmp_path / "results" / "model" / "logs" / "pretrain" / "all" / "stage1.log").read_text()
    assert "pretrain stage 1: 2 step" in log

    frames = tmp_path / "clip"
    frames.mkdir()
    for path in sorted((davis_root / "JPEGImages" / "480p" / "dog").glob("*.jpg"))[:3]:
        shutil.copy(path, frames / path.name)
    box = box_from_mask(read_mask(davis_root / "Annotations" / "480p" / "dog" / "00000.png") > 0)
    fast = json.dumps({"finetune_epochs": 1, "retrain_epochs": 1, "crop_size": 65})
    command = ["lsevos", "segment", str(frames), "--box", ",".join(map(str, box)), "--out", "out"]
    segment = subprocess.run(
        [*command, "--settings", fast],
        cwd=tmp_path, capture_output=True, text=True, env=workflow.env(), timeout=600,
    )  # fmt: skip
    assert segment.returncode == 0, segment.stderr[-3000:]
    assert re.search(r"segment: model \S*models/lsevos-cpu\.pt \(the project's CPU model\)", segment.stderr)
    assert len(list((tmp_path / "out" / "masks").glob("*.png"))) == 3
    assert "frames/s" in segment.stderr.splitlines()[-1]
