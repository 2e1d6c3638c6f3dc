"""Single-file outputs are owned like output folders: an existing file lsevos did not write is refused by
name and left byte-identical; a file it wrote (recorded beside it) is replaced by the next run. One output
is written by one run at a time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lsevos.data.io import atomic_output, prepare_output_file
from lsevos.errors import DataError
from lsevos.outputs import lock_path, record_path, release_outputs


@pytest.fixture
def holiday(tmp_path):
    """A user's own video, with the overlay's suffix."""
    path = tmp_path / "holiday.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42 my holiday" * 100)
    return path


class TestOverlay:
    def test_refuses_an_existing_video_it_did_not_write(
        self, tools, frames, tiny_checkpoint, tmp_path, holiday, no_computation
    ):
        before = holiday.read_bytes()
        out = tmp_path / "proj"
        argv = tools.segment_argv(frames, tiny_checkpoint, out, "--static", "--overlay", holiday)
        line = tools.refused(argv)
        assert str(holiday) in line and "--overlay" in line and "did not write" in line
        assert holiday.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "holiday.mp4"]

    @pytest.mark.slow
    def test_replaces_its_own_overlay_but_not_one_edited_by_hand(
        self, tools, frames, tiny_checkpoint, tmp_path
    ):
        overlay, out = tmp_path / "overlay.mp4", tmp_path / "proj"
        for _ in range(2):
            code, err = tools.run(
                tools.segment_argv(frames, tiny_checkpoint, out, "--static", "--overlay", overlay)
            )
            assert code == 0, err
        assert record_path(overlay).is_file() and overlay.stat().st_size > 1000
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            ".overlay.mp4.lsevos-output", "frames", "overlay.mp4", "proj",
        ]  # fmt: skip
        overlay.write_bytes(b"now the user's own file")
        line = tools.refused(
            tools.segment_argv(frames, tiny_checkpoint, out, "--static", "--overlay", overlay)
        )
        assert str(overlay) in line and "did not write" in line
        assert overlay.read_bytes() == b"now the user's own file"


class TestOtherFiles:
    def test_evaluate_refuses_a_csv_and_a_json_it_did_not_write(self, tools, davis_root, tmp_path):
        out, summary = tmp_path / "seq.csv", tmp_path / "metrics.json"
        out.write_text("my,own\n1,2\n")
        summary.write_text('{"mine": 1}')
        line = tools.refused(tools.evaluate_argv(davis_root, out, "--json", summary))
        assert str(out) in line and "did not write" in line
        assert out.read_text() == "my,own\n1,2\n" and summary.read_text() == '{"mine": 1}'
        out.unlink()
        line = tools.refused(tools.evaluate_argv(davis_root, out, "--json", summary))
        assert str(summary) in line and "--json" in line
        assert not out.exists() and summary.read_text() == '{"mine": 1}'

    def test_evaluate_rewrites_its_own_csv(self, tools, davis_root, tmp_path):
        out = tmp_path / "seq.csv"
        for _ in range(2):
            code, err = tools.run(tools.evaluate_argv(davis_root, out))
            assert code == 0, err
        assert json.loads(record_path(out).read_text())["files"][0]["size"] == out.stat().st_size

    def test_finetune_refuses_a_checkpoint_path_holding_a_user_file(
        self, tools, frames, tiny_checkpoint, tmp_path, no_computation
    ):
        out = tmp_path / "ft.pt"
        out.write_bytes(b"someone's weights")
        scan = tools.scan_argv(frames, tiny_checkpoint, out)
        line = tools.refused(["finetune", *scan[1:]])
        assert str(out) in line and "did not write" in line
        assert out.read_bytes() == b"someone's weights"

    def test_tables_refuses_a_table_file_it_did_not_write(self, tools, tmp_path, monkeypatch):
        import lsevos.evaluation.tables as tables

        monkeypatch.setattr(tables, "make_tables", lambda *a: pytest.fail("tables started"))
        out = tmp_path / "tables"
        out.mkdir()
        (out / "table2.md").write_text("my notes")
        argv = [
            "tables",
            "--metrics",
            tmp_path,
            "--gt-davis",
            tmp_path / "gt",
            "--out",
            out,
            "--config-name",
            "x",
        ]
        assert str(out / "table2.md") in tools.refused(argv)
        assert (out / "table2.md").read_text() == "my notes"

    def test_a_file_replaced_while_the_run_computed_is_not_overwritten(self, tmp_path):
        target = tmp_path / "result.csv"
        try:
            prepare_output_file(target)
            target.write_text("appeared meanwhile")
            with pytest.raises(DataError, match="did not write"):
                with atomic_output(target) as temporary:
                    temporary.write_text("new")
        finally:
            release_outputs()
        assert target.read_text() == "appeared meanwhile"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["result.csv"]


HOLD = """
import sys, time
from lsevos.data.io import prepare_output_folder
prepare_output_folder(sys.argv[1], "scan")
print("locked", flush=True)
time.sleep(60)
"""


class TestOneRunPerOutput:
    def test_an_out_reached_through_a_symlink_is_one_output(self, tools, frames, tiny_checkpoint, tmp_path):
        """The command locks `--out` as typed and saves to it resolved: through a linked folder both
        spellings name one lock file, which the process must not take twice (it would wait on itself)."""
        real = tmp_path / "real"
        real.mkdir()
        (tmp_path / "link").symlink_to(real)
        argv = tools.segment_argv(frames, tiny_checkpoint, tmp_path / "link" / "proj", "--static")
        code, err = tools.run(argv)
        assert code == 0, err
        assert len(list((real / "proj" / "masks").glob("*.png"))) == len(list(Path(frames).iterdir()))
        assert not list(real.glob(".*.lock"))

    def test_a_second_run_on_the_same_out_is_refused_naming_the_first(
        self, tools, frames, tiny_checkpoint, tmp_path, no_computation
    ):
        out = tmp_path / "proj"
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True, env=os.environ
        )
        try:
            assert holder.stdout.readline().strip() == "locked"
            scratch = tmp_path / ".proj.work-abc123"  # the first run's scratch folder
            scratch.mkdir()
            line = tools.refused(tools.segment_argv(frames, tiny_checkpoint, out, "--static"))
            assert str(out) in line and f"pid {holder.pid}" in line and "another lsevos run" in line
            assert scratch.is_dir()  # not deleted under the running one
        finally:
            holder.kill()
            holder.wait()
        assert lock_path(out).is_file()  # left by the killed holder: taken over by the next run
        with pytest.raises(AssertionError, match="computation started"):  # past every check: lock taken
            tools.run(tools.segment_argv(frames, tiny_checkpoint, out, "--static"))
        assert not lock_path(out).exists() and not scratch.exists()
