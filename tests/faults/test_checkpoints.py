"""Checkpoints: read without unpickling code, refused when they cannot segment or do not fit their model."""

from __future__ import annotations

import os

import pytest
import torch

from lsevos.errors import DataError
from lsevos.model.lse_net import LSENet
from lsevos.train.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint


class Touch:
    """Pickles as a call of os.system: unpickling it touches `path` (what a crafted .pt would do)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


def crafted(tools, path, sentinel):
    """A .pt that looks like an lsevos checkpoint and runs `touch sentinel` when unpickled."""
    good = load_checkpoint(tools.save_tiny(path))
    torch.save({**good, "extra": {"payload": Touch(sentinel)}}, path)
    return path


class TestCraftedPickle:
    def test_the_crafted_file_does_run_code_when_unpickled_without_the_allow_list(self, tools, tmp_path):
        sentinel = tmp_path / "control"
        torch.load(crafted(tools, tmp_path / "control.pt", sentinel), weights_only=False)
        assert sentinel.exists()  # so the tests below test something

    @pytest.mark.slow
    @pytest.mark.parametrize("command", ["scan", "segment"])
    def test_is_refused_without_running_code(self, tools, frames, tmp_path, command):
        sentinel = tmp_path / "pwned"
        evil = crafted(tools, tmp_path / "evil.pt", sentinel)
        argv = (tools.scan_argv if command == "scan" else tools.segment_argv)(frames, evil, tmp_path / "out")
        line, _ = tools.refused_process(argv)
        assert str(evil) in line and "refused" in line
        assert not sentinel.exists()
        assert not (tmp_path / "out").exists()

    def test_load_checkpoint_refuses_it_in_process(self, tools, tmp_path):
        from lsevos.errors import DataError

        sentinel = tmp_path / "pwned"
        with pytest.raises(DataError, match="evil.pt: refused") as caught:
            load_checkpoint(crafted(tools, tmp_path / "evil.pt", sentinel))
        assert "\n" not in str(caught.value) and not sentinel.exists()


class TestCurrentCheckpointsStillLoad:
    def test_a_pretraining_resume_file_with_optimizer_and_rng_state(self, tmp_path):
        """What `lsevos.train.pretrain` writes to `<out>.resume`: SGD state, torch RNG state, log values."""
        torch.manual_seed(0)
        model = LSENet("tiny", embed_dim=8)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        model(torch.rand(1, 3, 33, 33)).fg_logit.mean().backward()
        optimizer.step()
        rng = torch.get_rng_state()
        config = {
            "stage": "1",
            "settings": {"crop": 33, "lr": 0.01, "pretrained": False},
            "data": {"a": [1]},
            "init": None,
        }
        extra = {"torch_rng_state": rng, "pending_losses": [{"total": 1.5, "ae": 0.5}]}
        save_checkpoint(
            tmp_path / "s.pt.resume", model, step=7, config=config, optimizer=optimizer, extra=extra
        )
        state = load_checkpoint(tmp_path / "s.pt.resume")
        assert state["config"] == config and state["step"] == 7
        assert state["extra"]["pending_losses"] == [{"total": 1.5, "ae": 0.5}]
        fresh = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        fresh.load_state_dict(state["optimizer_state"])
        saved, loaded = optimizer.state_dict()["state"], fresh.state_dict()["state"]
        assert sorted(loaded) == sorted(saved) and len(saved) > 0
        assert all(torch.equal(loaded[k]["momentum_buffer"], saved[k]["momentum_buffer"]) for k in saved)
        torch.set_rng_state(state["extra"]["torch_rng_state"])
        assert torch.equal(torch.get_rng_state(), rng)
        rebuilt = model_from_checkpoint(state).state_dict()
        assert rebuilt.keys() == model.state_dict().keys()
        assert all(torch.equal(rebuilt[name], value) for name, value in model.state_dict().items())

    def test_a_finetune_checkpoint_with_first_frame_labels(self, tmp_path):
        """What `lsevos.video.steps.finetune` writes: uint8 labels tensor, search box, video settings."""
        from lsevos.video.settings import VideoSettings

        labels = torch.zeros(48, 64, dtype=torch.uint8)
        save_checkpoint(
            tmp_path / "ft.pt",
            LSENet("tiny", embed_dim=8),
            step=3,
            config={
                "stage": "finetune",
                "family": "ours",
                "first_box": [1, 2, 3, 4],
                "video": VideoSettings().to_dict(),
            },
            extra={"stage": "finetune", "first_frame_labels": labels, "first_frame_search": [0, 0, 10, 10]},
        )
        state = load_checkpoint(tmp_path / "ft.pt")
        assert torch.equal(state["extra"]["first_frame_labels"], labels)
        assert state["config"]["video"] == VideoSettings().to_dict()


class TestUnfitCheckpoints:
    @pytest.mark.parametrize("stage", ["1", "2"])
    def test_stage_1_or_2_checkpoint_refused_by_segment(self, tools, frames, tmp_path, no_computation, stage):
        checkpoint = tools.save_tiny(tmp_path / f"stage{stage}.pt", stage=stage)
        line = tools.refused(tools.segment_argv(frames, checkpoint, tmp_path / "out"))
        assert str(checkpoint) in line and f"stage-{stage}" in line and "stage-3" in line
        assert not (tmp_path / "out").exists()

    def test_stage_1_checkpoint_refused_by_scan(self, tools, frames, tmp_path, monkeypatch):
        import lsevos.video.steps as pipeline

        monkeypatch.setattr(pipeline, "track_frames", lambda *a, **k: pytest.fail("scan started"))
        checkpoint = tools.save_tiny(tmp_path / "stage1.pt", stage="1")
        line = tools.refused(tools.scan_argv(frames, checkpoint, tmp_path / "out"))
        assert str(checkpoint) in line and "stage-3" in line and "fine-tuned" in line

    @pytest.mark.slow
    def test_weights_that_do_not_fit_the_model_config_give_one_line(self, tools, frames, tmp_path):
        checkpoint = tools.save_tiny(tmp_path / "edited.pt")
        payload = load_checkpoint(checkpoint)
        payload["model_config"]["embed_dim"] = 16
        torch.save(payload, checkpoint)
        line, stderr = tools.refused_process(tools.scan_argv(frames, checkpoint, tmp_path / "out"))
        assert str(checkpoint) in line and "do not fit" in line and "embed_dim 16" in line
        assert len(stderr.strip().splitlines()) == 1, stderr

    def test_a_file_that_is_no_checkpoint_gives_one_line(self, tools, frames, tmp_path):
        bad = tmp_path / "bad.pt"
        bad.write_bytes(b"not a checkpoint at all\n" * 10)
        code, err = tools.run(tools.scan_argv(frames, bad, tmp_path / "out", settings=None))
        assert code == 2
        assert str(bad) in tools.error_line(err, "scan")
        assert len(err.strip().splitlines()) == 1, err

    def test_text_and_a_copy_cut_short_are_named_as_such(self, tools, tmp_path):
        """Not 'holds Python objects' (the unpickler's view of any non-zip file): what the file is, and
        the fix for a copied model (copy it again), for a text file and a checkpoint cut in half."""
        text, cut = tmp_path / "notes.pt", tmp_path / "cut.pt"
        text.write_text("not a model\n")
        whole = tools.save_tiny(tmp_path / "whole.pt").read_bytes()
        cut.write_bytes(whole[: len(whole) // 2])
        for path in (text, cut):
            with pytest.raises(DataError) as refused:
                load_checkpoint(path)
            message = str(refused.value)
            assert message.startswith(f"{path}: not a PyTorch checkpoint") and "copy it again" in message
            assert "Python objects" not in message
