"""Outputs: a command writes only what it owns, checks where it writes before computing anything, and
cleans up the hidden temporaries of a killed earlier run."""

from __future__ import annotations

import importlib
import json
import os

import cv2
import pytest

from lsevos.data.io import atomic_output
from lsevos.errors import DataError

OUTPUT_MARKER = ".lsevos-output"  # lsevos.data.io.OUTPUT_MARKER: marks a folder a command wrote whole


def user_folder(path):
    """A folder holding a user's own files."""
    (path / "sub").mkdir(parents=True)
    (path / "notes.txt").write_text("mine")
    (path / "sub" / "data.csv").write_text("a,b\n1,2\n")
    return path


class TestSegmentOutputs:
    def test_refuses_an_out_folder_holding_user_files(
        self, tools, frames, tiny_checkpoint, tmp_path, no_computation
    ):
        proj = user_folder(tmp_path / "proj")
        before = tools.snapshot(proj)
        line = tools.refused(tools.segment_argv(frames, tiny_checkpoint, proj, "--static"))
        assert str(proj) in line and "notes.txt" in line and "did not write" in line
        assert tools.snapshot(proj) == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "proj"]  # no work folder left

    @pytest.mark.parametrize("where", ["equal", "inside", "parent"])
    def test_refuses_out_equal_to_inside_or_holding_the_input(
        self, tools, frames, tiny_checkpoint, no_computation, where
    ):
        out = {"equal": frames, "inside": frames / "masks", "parent": frames.parent}[where]
        before = tools.snapshot(frames)
        line = tools.refused(tools.segment_argv(frames, tiny_checkpoint, out, "--static"))
        assert str(out) in line and "input" in line
        assert tools.snapshot(frames) == before

    def test_out_that_is_a_file_is_refused_before_computing(
        self, tools, frames, tiny_checkpoint, tmp_path, no_computation
    ):
        target = tmp_path / "results.txt"
        target.write_text("keep me")
        line = tools.refused(tools.segment_argv(frames, tiny_checkpoint, target, "--static"))
        assert str(target) in line and "not a folder" in line
        assert target.read_text() == "keep me"

    def test_out_under_a_file_is_refused_before_computing(
        self, tools, frames, tiny_checkpoint, tmp_path, no_computation
    ):
        blocker = tmp_path / "blocker"
        blocker.write_text("keep me")
        argv = tools.segment_argv(frames, tiny_checkpoint, blocker / "proj", "--static")
        assert str(blocker) in tools.refused(argv)
        assert blocker.read_text() == "keep me"

    @pytest.mark.slow
    def test_rerun_replaces_its_own_output_and_removes_stale_temporaries(
        self, tools, frames, tiny_checkpoint, tmp_path
    ):
        results = tmp_path / "results"
        results.mkdir()
        (results / "keep.txt").write_text("a user's file beside the output")
        stale = [results / ".proj.tmp-0123abcd", results / ".proj.work-k1ll3d_x"]
        for path in stale:
            (path / "masks").mkdir(parents=True)
        proj = results / "proj"
        for _ in range(2):
            code, err = tools.run(tools.segment_argv(frames, tiny_checkpoint, proj, "--static"))
            assert code == 0, err
            assert sorted(p.name for p in results.iterdir()) == ["keep.txt", "proj"]
        assert (proj / OUTPUT_MARKER).read_text().strip() == "scan"
        assert sorted(p.name for p in (proj / "masks").iterdir()) == [f"{i:05d}.png" for i in range(4)]
        assert (results / "keep.txt").read_text() == "a user's file beside the output"


class TestScanOutputs:
    def test_scan_refuses_an_out_folder_holding_user_files(
        self, tools, frames, tiny_checkpoint, tmp_path, no_computation
    ):
        out = user_folder(tmp_path / "scan")
        before = tools.snapshot(out)
        assert str(out) in tools.refused(tools.scan_argv(frames, tiny_checkpoint, out, settings=None))
        assert tools.snapshot(out) == before


class TestEvaluateOutputs:
    def test_refuses_to_replace_an_existing_folder_with_a_csv(
        self, tools, davis_root, tmp_path, no_computation
    ):
        evdir = user_folder(tmp_path / "evdir")
        before = tools.snapshot(evdir)
        line = tools.refused(tools.evaluate_argv(davis_root, evdir))
        assert str(evdir) in line and "folder" in line
        assert evdir.is_dir() and tools.snapshot(evdir) == before

    @pytest.mark.parametrize("option", ["--out", "--per-frame", "--json"])
    def test_unwritable_location_is_refused_before_scoring(
        self, tools, davis_root, tmp_path, no_computation, option
    ):
        blocker = tmp_path / "blocker"
        blocker.write_text("keep me")
        bad = blocker / "metrics.csv"
        out = bad if option == "--out" else tmp_path / "seq.csv"
        extra = [] if option == "--out" else [option, bad]
        line = tools.refused(tools.evaluate_argv(davis_root, out, *extra))
        assert str(bad) in line and option in line
        assert blocker.read_text() == "keep me" and not (tmp_path / "seq.csv").exists()

    def test_writes_and_rewrites_its_csv_and_cleans_temporaries(self, tools, davis_root, tmp_path):
        out = tmp_path / "seq.csv"
        stale = tmp_path / ".seq.tmp-0123abcd.csv"
        stale.write_text("half")
        for _ in range(2):
            code, err = tools.run(tools.evaluate_argv(davis_root, out))
            assert code == 0, err
        assert out.read_text().startswith("sequence,J_M") and not stale.exists()


class TestGrabcutOutputs:
    def test_flat_refuses_a_folder_holding_user_files(self, tools, davis_root, tmp_path, no_computation):
        gcdir = user_folder(tmp_path / "gcdir")
        (gcdir / "00001.png").write_bytes(b"my own mask")
        before = tools.snapshot(gcdir)
        line = tools.refused(tools.grabcut_argv(davis_root, gcdir))
        assert str(gcdir) in line and "did not write" in line
        assert tools.snapshot(gcdir) == before

    def test_reruns_over_its_own_output(self, tools, davis_root, tmp_path):
        gcdir = tmp_path / "gcdir"
        for _ in range(2):
            code, err = tools.run(tools.grabcut_argv(davis_root, gcdir))
            assert code == 0, err
        assert sorted(p.name for p in gcdir.iterdir()) == [OUTPUT_MARKER] + [f"{i:05d}.png" for i in range(4)]

    def test_results_layout_refuses_a_sequence_folder_holding_user_files(
        self, tools, davis_root, tmp_path, no_computation
    ):
        root = tmp_path / "results"
        user_folder(root / "disk")
        before = tools.snapshot(root)
        args = tools.grabcut_argv(davis_root, root)
        args[args.index("flat")] = "results"
        assert str(root / "disk") in tools.refused(args)
        assert tools.snapshot(root) == before

    def test_out_inside_the_dataset_is_refused(self, tools, davis_root, no_computation):
        before = tools.snapshot(davis_root)
        out = davis_root / "Annotations" / "480p" / "disk"
        assert "input" in tools.refused(tools.grabcut_argv(davis_root, out))
        assert tools.snapshot(davis_root) == before


class TestOtherOutputs:
    def test_download_resources_that_is_a_file_is_refused_before_downloading(
        self, tools, tmp_path, monkeypatch
    ):
        import lsevos.data.download as download

        monkeypatch.setattr(download, "download_dataset", lambda *a: pytest.fail("download started"))
        resources = tmp_path / "resources"
        resources.write_text("keep me")
        assert str(resources) in tools.refused(["download", "davis2016", "--resources", resources])
        assert resources.read_text() == "keep me"

    def test_tables_out_that_is_a_file_is_refused_before_reading_metrics(self, tools, tmp_path, monkeypatch):
        import lsevos.evaluation.tables as tables

        monkeypatch.setattr(tables, "make_tables", lambda *a: pytest.fail("tables started"))
        out = tmp_path / "tables"
        out.write_text("keep me")
        argv = ["tables", "--metrics", tmp_path, "--gt-davis", tmp_path, "--out", out, "--config-name", "x"]
        assert str(out) in tools.refused(argv)
        assert out.read_text() == "keep me"

    def test_atomic_output_never_swaps_a_folder_and_a_file(self, tmp_path):
        folder = user_folder(tmp_path / "folder")
        with pytest.raises(DataError, match="existing folder"):
            with atomic_output(folder) as temporary:
                temporary.write_text("csv")
        assert (folder / "notes.txt").read_text() == "mine"
        plain = tmp_path / "plain.txt"
        plain.write_text("keep")
        with pytest.raises(DataError, match="existing file"):
            with atomic_output(plain) as temporary:
                temporary.mkdir()
        assert plain.read_text() == "keep"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "plain.txt"]

    def test_owned_atomic_output_refuses_a_foreign_folder_even_without_a_check_first(self, tmp_path):
        folder = user_folder(tmp_path / "scan")
        with pytest.raises(DataError, match="did not write"):
            with atomic_output(folder, owner="scan") as temporary:
                temporary.mkdir()
        assert (folder / "notes.txt").read_text() == "mine"
        assert json.dumps(sorted(p.name for p in tmp_path.iterdir())) == '["scan"]'


@pytest.fixture
def folder_writers(tools, tmp_path, smallest_benchmark):
    """{command: (argv writing to an `--out`, module and function it computes with)} for the commands that
    write a whole folder from tiny inputs: a hand-made scan of 4 frames, a SegTrack release of one
    sequence, the smallest built-in benchmark."""
    names = [f"{index:05d}" for index in range(4)]
    video = tmp_path / "video"
    masks = tools.disk_frames(video, names)
    scan = tmp_path / "scan"
    (scan / "probs").mkdir(parents=True)
    for name, mask in zip(names, masks, strict=True):
        cv2.imwrite(str(scan / "probs" / f"{name}.png"), mask * 255)
    whole = dict.fromkeys(names, [0, 0, 63, 47])
    (scan / "boxes.json").write_text(json.dumps({"frames": whole, "search": whole}))
    release = tmp_path / "segtrack"
    tools.disk_frames(release / "JPEGImages" / "disk", names)
    for name, mask in zip(names, masks, strict=True):
        (release / "GroundTruth" / "disk").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(release / "GroundTruth" / "disk" / f"{name}.png"), mask * 255)
    bench = json.dumps({**smallest_benchmark, "static_train": 1, "sequences": ["dash-fm"]})
    return {
        "pseudo-labels": (
            lambda out: ["pseudo-labels", "--scan", scan, "--out", out],
            "lsevos.video.scan_folder",
            "write_scan_labels",
        ),
        "crf": (
            lambda out: ["crf", "--frames", video, "--scan", scan, "--out", out],
            "lsevos.video.crf",
            "crf_scan",
        ),
        "benchmark": (
            lambda out: ["generate-benchmark", "--out", out, "--seed", "1", "--settings", bench],
            "lsevos.data.synthetic",
            "generate_benchmark",
        ),
        "segtrack": (
            lambda out: ["prepare-segtrack", "--src", release, "--out", out],
            "lsevos.data.segtrack",
            "convert_segtrack_to_davis",
        ),
    }


WRITERS = ["pseudo-labels", "crf", "benchmark", "segtrack"]  # the owner each command marks its folder with


class TestWorkflowFolderOutputs:
    @pytest.mark.parametrize("owner", WRITERS)
    def test_refuses_a_folder_holding_user_files_before_computing(
        self, tools, folder_writers, tmp_path, monkeypatch, owner
    ):
        argv, module, function = folder_writers[owner]
        monkeypatch.setattr(importlib.import_module(module), function, lambda *a: pytest.fail("computed"))
        out = user_folder(tmp_path / "out")
        before = tools.snapshot(out)
        line = tools.refused(argv(out))
        assert str(out) in line and "notes.txt" in line and "did not write" in line
        assert tools.snapshot(out) == before

    @pytest.mark.parametrize("owner", WRITERS)
    def test_reruns_over_its_own_output(self, tools, folder_writers, tmp_path, owner):
        argv = folder_writers[owner][0]
        out = tmp_path / "out"
        for _ in range(2):
            code, err = tools.run(argv(out))
            assert code == 0, err
            assert (out / OUTPUT_MARKER).read_text().strip() == owner
        assert not [name for name in os.listdir(tmp_path) if name.startswith(".out.")]
        (out / OUTPUT_MARKER).write_text("scan\n")  # another command's folder is foreign too
        assert "did not write" in tools.refused(argv(out))


def test_a_folder_of_another_lsevos_output_is_named_as_such(tmp_path):
    """An lsevos output of another kind (cut-outs given as `--out` of a scan) is refused as that kind, a
    user's folder as one lsevos did not write; neither is touched."""
    from lsevos.data.io import prepare_output_folder
    from lsevos.outputs import release_outputs

    cutouts = tmp_path / "cutouts"
    with atomic_output(cutouts, owner="alpha") as temporary:
        temporary.mkdir()
        (temporary / "00000.png").write_bytes(b"png")
    other = r"cutouts: --out is an existing folder of lsevos alpha output, not scan output \(it holds 00000"
    with pytest.raises(DataError, match=other):
        prepare_output_folder(cutouts, "scan")
    mine = user_folder(tmp_path / "mine")
    with pytest.raises(
        DataError, match=r"mine: --out is an existing folder that lsevos did not write \(it holds"
    ):
        prepare_output_folder(mine, "scan")
    release_outputs()
    assert (cutouts / "00000.png").read_bytes() == b"png" and (mine / "notes.txt").read_text() == "mine"


def test_an_earlier_output_is_retired_only_if_lsevos_still_owns_it(tmp_path):
    """`retire_output` checks again what it removes: an earlier owned file or folder goes; a file or folder
    that appeared or changed hands since the claim is refused and left; a symbolic link is refused."""
    from lsevos.data.io import prepare_output_file, prepare_output_folder, retire_output
    from lsevos.outputs import record_path, release_outputs

    overlay, cutouts = tmp_path / "ov.mp4", tmp_path / "cut"
    prepare_output_file(overlay)
    with atomic_output(overlay) as temporary:
        temporary.write_bytes(b"video")
    with atomic_output(cutouts, owner="alpha") as temporary:
        temporary.mkdir()
    retire_output(overlay, None, "--overlay")
    retire_output(cutouts, "alpha", "--alpha")
    assert not overlay.exists() and not cutouts.exists() and not record_path(overlay).exists()
    overlay.write_bytes(b"the user's own video")  # put there while the run was segmenting
    with pytest.raises(DataError, match="ov.mp4: --overlay is an existing file that lsevos did not write"):
        retire_output(overlay, None, "--overlay")
    mine = user_folder(cutouts)
    with pytest.raises(DataError, match="cut: --alpha is an existing folder that lsevos did not write"):
        retire_output(mine, "alpha", "--alpha")
    assert overlay.read_bytes() == b"the user's own video" and (mine / "notes.txt").read_text() == "mine"
    link = tmp_path / "link"
    link.symlink_to(mine)
    with pytest.raises(DataError, match="link: --alpha is a symbolic link"):
        prepare_output_folder(link, "alpha", what="--alpha")
    with pytest.raises(DataError, match="link: --alpha is a symbolic link"):
        retire_output(link, "alpha", "--alpha")
    release_outputs()
    assert (mine / "notes.txt").read_text() == "mine"
