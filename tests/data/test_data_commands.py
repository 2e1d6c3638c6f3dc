"""The data sub-commands, run through their own argparse registration."""

import argparse
import json

import pytest

from lsevos.data.commands import load_settings, register
from lsevos.data.davis import DavisDataset
from lsevos.data.segtrack import SegtrackDataset
from lsevos.data.synthetic import segtrack_objects, sequence_names
from lsevos.data.voc_sbd import VocInstances
from lsevos.errors import ConfigError
from lsevos.outputs import release_outputs


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="lsevos")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    finally:
        release_outputs()  # what the `lsevos` command does at its end: drop the output locks


def test_prepare_segtrack(segtrack_root, tmp_path):
    out = tmp_path / "segtrack"
    assert _run("prepare-segtrack", "--src", str(segtrack_root), "--out", str(out), "--objects", "bmx_2") == 0
    assert DavisDataset(out).sequences == ["bmx_2"]


def test_sbd_augment_writes_the_list(tmp_path, capsys):
    voc, sbd = tmp_path / "VOC2012", tmp_path / "sbd"
    (voc / "SegmentationObject").mkdir(parents=True)
    (voc / "ImageSets" / "Segmentation").mkdir(parents=True)
    (voc / "ImageSets" / "Segmentation" / "train.txt").write_text("2007_000032\n2007_000039\n")
    (voc / "ImageSets" / "Segmentation" / "val.txt").write_text("2007_000033\n")
    (sbd / "inst").mkdir(parents=True)
    (sbd / "train.txt").write_text("2007_000033\n2008_000002\n")
    (sbd / "val.txt").write_text("2007_000039\n2008_000003\n")
    out = tmp_path / "lists" / "train_aug.txt"
    assert _run("sbd-augment", "--voc", str(voc), "--sbd", str(sbd), "--out", str(out)) == 0
    assert out.read_text() == "2007_000032\n2007_000039\n2008_000002\n2008_000003\n"
    assert "wrote 4 image ids" in capsys.readouterr().out


def test_download_reuses_an_unpacked_dataset_without_network(tmp_path, capsys):
    (tmp_path / "davis2016" / "DAVIS").mkdir(parents=True)
    assert _run("download", "davis2016", "--resources", str(tmp_path)) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "davis2016" / "DAVIS")


def test_generate_benchmark_output_loads_with_the_dataset_readers(tmp_path, smallest_benchmark):
    names = sequence_names()[:1]
    settings = {**smallest_benchmark, "static_train": 2, "sequences": names}
    settings_file = tmp_path / "tiny.yaml"
    settings_file.write_text(json.dumps(settings))
    out = tmp_path / "bench"
    assert _run("generate-benchmark", "--out", str(out), "--seed", "3", "--settings", str(settings_file)) == 0
    static = VocInstances(out / "static", "train")
    image, instances = static[0]
    assert image.shape == (64, 64, 3) and instances.shape == (64, 64) and instances.max() == 255
    davis = DavisDataset(out / "davis")
    assert davis.sequences == names
    assert len(davis.sequence(names[0])) == 8
    assert SegtrackDataset(out / "segtrack").targets == segtrack_objects(settings)


def test_generate_benchmark_rejects_an_unknown_key_and_writes_nothing(tmp_path):
    out = str(tmp_path / "bench")
    with pytest.raises(ConfigError, match="'frames_per_video'"):
        _run("generate-benchmark", "--out", out, "--seed", "1", "--settings", '{"frames_per_video": 3}')
    assert list(tmp_path.iterdir()) == []


def test_load_settings(tmp_path):
    assert load_settings(None) is None
    assert load_settings('{"a": 1}') == {"a": 1}
    path = tmp_path / "settings.yaml"
    path.write_text("a: 2\nb: [x, y]\n")
    assert load_settings(str(path)) == {"a": 2, "b": ["x", "y"]}
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="settings.yaml: settings must be a key: value mapping"):
        load_settings(str(path))
    with pytest.raises(ConfigError, match="neither an existing file nor valid JSON"):
        load_settings("{not json")
    # inline YAML longer than a file name may be (255 bytes): the same one-line error, not an OSError
    inline = "\n".join(f"setting_{index}: {index}" for index in range(40))
    assert len(inline) > 255
    with pytest.raises(ConfigError, match="neither an existing file nor valid JSON"):
        load_settings(inline)
    # a NUL byte, which no path may hold (`Path.is_file` answers False for it): the same one-line error
    with pytest.raises(ConfigError, match="neither an existing file nor valid JSON"):
        load_settings("a\0b")
    # JSON that is not an object is named for what it is
    for text, kind in (("[1]", "a list"), ("7", "a number"), ("true", "true/false")):
        with pytest.raises(ConfigError, match=f"JSON, but {kind}, not an object"):
            load_settings(text)
