"""The whole workflow configuration (`config/*.yaml`), checked once before any job runs.

`check_config(config)` raises `ConfigError` with a short message that starts with the key path
(`video.crop_sise: ...`, `pretrain.stage2.lr: ...`, `sequences.davis[3]: ...`) and names the allowed keys
or values. Every rule has one home, and this module only calls it:

- top-level structure, types and enums: `workflow/schemas/config.schema.yaml`, run with jsonschema (only
  the most relevant error is reported). Lists the code owns (`x-enum-from: module.NAME`, e.g. the
  pretraining source kinds) are taken from the code, and blocks a dataclass owns (`x-checked-by:
  module.Class`) are left to that dataclass: there the schema documents the keys (a test keeps it in step);
- `data.synthetic.settings`: `lsevos.data.synthetic.parse_settings` (`SyntheticSettings`);
- `pretrain.model` + `pretrain.stage1/2/3/fp`: `PretrainSettings.from_dict` on the merged dict the workflow
  passes to `lsevos pretrain`; `video`: `VideoSettings.from_dict` with the top-level `device` added, as the
  workflow passes it;
- variants: `lsevos.video.variants.VARIANTS` (plus `grabcut`);
- sequence names: the folders of a configured (or already downloaded) dataset, or the names the built-in
  benchmark generates with `data.synthetic.settings`; nothing is checked when the data is not there yet;
- `pretrain.folds`: every evaluated sequence in exactly one fold, none both evaluated and cut for
  copy-paste pretraining by the same model.

No Snakemake import: the workflow calls it from `workflow/rules/common.smk`, tests call it directly.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import reprlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from lsevos.errors import ConfigError, DataError

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"
GRABCUT = "grabcut"
MAX_LISTED = 30  # names listed in one message at most

_repr = reprlib.Repr()
_repr.maxstring = 40
_repr.maxother = 40


def check_config(
    config: object, schema_path: str | Path | None = None, base_dir: str | Path | None = None
) -> None:
    """Check every block and value of a workflow configuration; `ConfigError` naming the first bad key.

    `schema_path`: the JSON schema (default: the workflow's). `base_dir`: the folder relative data paths
    are read from (default: the current directory, Snakemake's working directory).
    """
    if not isinstance(config, dict):
        raise ConfigError(f"config: expected a mapping of keys to values, got {type(config).__name__}")
    base = Path.cwd() if base_dir is None else Path(base_dir)
    _check_schema(config, load_schema(schema_path))
    _check_data(config, base)
    _check_variants(config)
    _check_pretrain(config)
    _check_video(config)
    _check_sequences(config, base)
    _check_folds(config)


# ------------------------------------------------------------------------------------------------ schema
def load_schema(path: str | Path | None = None, resolve: bool = True) -> dict:
    """The configuration schema; with `resolve`, `x-enum-from` lists come from the code and the keys of
    `x-checked-by` blocks are left to their dataclass (the block must still be a mapping)."""
    import yaml

    schema = yaml.safe_load(Path(path or SCHEMA_PATH).read_text())
    if resolve:
        for node in schema_nodes(schema):
            if "x-enum-from" in node:
                node["enum"] = list(code_object(node["x-enum-from"]))
            if "x-checked-by" in node:
                for keyword in ("properties", "additionalProperties", "required"):
                    node.pop(keyword, None)
    return schema


def schema_nodes(node: object) -> Iterable[dict]:
    """Every mapping inside a schema, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from schema_nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from schema_nodes(value)


def code_object(dotted: str) -> Any:
    """`package.module.NAME` -> that object."""
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _check_schema(config: dict, schema: dict) -> None:
    import jsonschema

    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        raise ConfigError(_describe(error))


def _describe(error) -> str:
    """One or two lines for a jsonschema error: key path, what is wrong, what is allowed."""
    path = key_path(*error.absolute_path)
    instance, expected = error.instance, error.validator_value
    if error.validator == "additionalProperties" and expected is False and isinstance(instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        key = next(key for key in instance if key not in allowed)
        return f"{key_path(path, key)}: unknown key{_hint(key, allowed)}; allowed keys: {', '.join(allowed)}"
    if error.validator == "required" and isinstance(instance, dict):
        missing = [key for key in expected if key not in instance]
        return f"{path or 'config'}: missing key(s) {', '.join(missing)}; required: {', '.join(expected)}"
    if error.validator == "enum":
        return (
            f"{path}: {_repr.repr(instance)} is not allowed{_hint(instance, expected)}; "
            f"choose one of {', '.join(map(str, expected))}"
        )
    if error.validator == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else expected
        return f"{path}: expected {wanted}, got {_repr.repr(instance)} ({type(instance).__name__})"
    description = error.schema.get("description") if isinstance(error.schema, dict) else None
    return f"{path or 'config'}: {error.message}" + (f" ({description})" if description else "")


def key_path(*parts: object) -> str:
    """('pretrain', 'folds', 'a', 'evaluate', 2) -> 'pretrain.folds.a.evaluate[2]'."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part != "":
            text = f"{text}.{part}" if text else str(part)
    return text


def _hint(name: object, choices: Iterable[object]) -> str:
    if not isinstance(name, str):
        return ""
    close = difflib.get_close_matches(name, [str(choice) for choice in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ------------------------------------------------------------------------------ blocks checked by the code
def check_block(
    path: str,
    build: Callable[[dict], object],
    values: dict,
    known: Iterable[str],
    path_of: Callable[[str], str] | None = None,
) -> object:
    """`build(values)`, the block's own validator; its `ConfigError` is prefixed with the key path.

    The key at fault is found by building each key alone (with the defaults of the others); a failure no
    single key causes is reported at `path`. `path_of(key)` overrides `path.key` for merged blocks.
    """
    try:
        return build(values)
    except ConfigError as error:
        whole = str(error)
    known = list(known)
    for key, value in values.items():
        try:
            build({key: value})
        except ConfigError as error:
            where = path_of(key) if path_of else key_path(path, key)
            hint = _hint(key, known) if key not in known else ""
            raise ConfigError(f"{where}: {error}{hint}") from None
    raise ConfigError(f"{path}: {whole}")


def _field_names(cls: type) -> list[str]:
    return [field.name for field in dataclasses.fields(cls)]


def _check_data(config: dict, base: Path) -> None:
    from lsevos.data.synthetic import SyntheticSettings, parse_settings

    data = config["data"]
    settings = (data.get("synthetic") or {}).get("settings")
    if settings is not None:
        check_block("data.synthetic.settings", parse_settings, settings, _field_names(SyntheticSettings))
    for key, dataset in (("davis_root", "davis"), ("segtrack_root", "segtrack")):
        if data["source"] == "local" and not data.get(key) and config["sequences"][dataset]:
            raise ConfigError(
                f"data.{key}: data.source is local, so set it to your {dataset} folder (or use "
                "data.source download / synthetic)"
            )
    roots = {f"data.{key}": data.get(key) for key in ("davis_root", "segtrack_root", "voc_root", "sbd_root")}
    roots["pretrain.copy_paste.davis_root"] = (config["pretrain"].get("copy_paste") or {}).get("davis_root")
    for where, root in roots.items():
        if root and not (base / root).is_dir():
            raise ConfigError(
                f"{where}: no folder {root} (relative to {base}); fix the path or set it to null"
            )


def _check_variants(config: dict) -> None:
    from lsevos.video.variants import VARIANTS

    known = [GRABCUT, *VARIANTS]
    named = [
        (key_path(key, i), name)
        for key in ("variants", "segtrack_variants")
        for i, name in enumerate(config[key])
    ]
    named.append(("main_variant", config["main_variant"]))
    for where, name in named:
        if name not in known:
            raise ConfigError(
                f"{where}: unknown variant {name!r}{_hint(name, known)}; choose from {', '.join(known)}"
            )


def _check_pretrain(config: dict) -> None:
    from lsevos.train.pretrain import STAGES, PretrainSettings

    for stage in STAGES:
        name = stage_block(stage)
        block = config["pretrain"][name]
        check_block(
            f"pretrain.{name}",
            PretrainSettings.from_dict,
            stage_settings_values(config, stage),
            _field_names(PretrainSettings),
            lambda key, name=name, block=block: (  # type: ignore[misc]
                "device" if key == "device" else f"pretrain.{name if key in block else 'model'}.{key}"
            ),
        )


def stage_block(stage: str) -> str:
    """Pretraining stage ('1', ..., 'fp') -> its block under `pretrain`."""
    return "fp" if stage == "fp" else f"stage{stage}"


def stage_settings_values(config: dict, stage: str) -> dict:
    """The settings the workflow passes to `lsevos pretrain` (`stage_settings` in common.smk): the stage
    block merged over `pretrain.model`, with the top-level `device`."""
    pretrain = config["pretrain"]
    return {**pretrain["model"], **pretrain[stage_block(stage)], "device": config["device"]}


def imagenet_backbones(config: dict) -> set[str]:
    """Backbones whose ImageNet weights the stages that start from scratch (1 and fp) load, with every
    default applied as `lsevos pretrain` applies it (a stage may override `pretrain.model`)."""
    from lsevos.train.pretrain import PretrainSettings

    backbones = set()
    for stage in ("1", "fp"):
        settings = PretrainSettings.from_dict(stage_settings_values(config, stage))
        if settings.pretrained:
            backbones.add(settings.backbone)
    return backbones


def video_settings_values(config: dict) -> dict:
    """The settings the workflow passes to the video commands (`video_settings` in common.smk): the `video`
    block with the top-level `device`."""
    return {**config["video"], "device": config["device"]}


def _check_video(config: dict) -> None:
    from lsevos.video.settings import VideoSettings

    check_block(
        "video",
        VideoSettings.from_dict,
        video_settings_values(config),
        _field_names(VideoSettings),
        lambda key: "device" if key == "device" else f"video.{key}",
    )


# --------------------------------------------------------------------------------------------------- folds
def folds(config: dict) -> dict[str, list[str]]:
    """Fold name -> evaluated sequences; one fold `all` unless `pretrain.folds` splits the data."""
    split = config["pretrain"].get("folds") or {}
    if not split:
        return {"all": [seq for names in config["sequences"].values() for seq in names]}
    return {name: fold["evaluate"] for name, fold in split.items()}


def copy_paste_sequences(config: dict, fold: str) -> list[str] | str:
    """The sequences whose objects are cut for the copy-paste pretraining of `fold`'s model ("all":
    every annotated sequence of the folder that the fold does not evaluate)."""
    split = config["pretrain"].get("folds") or {}
    if split:
        return split[fold].get("copy_paste", [])
    return (config["pretrain"].get("copy_paste") or {}).get("sequences", [])


def _check_folds(config: dict) -> None:
    evaluated = folds(config)
    split = bool(config["pretrain"].get("folds"))
    fold_of: dict[str, str] = {}
    for fold, names in evaluated.items():
        for seq in names:
            if seq in fold_of:
                raise ConfigError(
                    f"pretrain.folds.{fold}.evaluate: {seq!r} is evaluated in fold {fold_of[seq]!r} too; "
                    "list each sequence in one fold"
                )
            fold_of[seq] = fold
    for dataset, names in config["sequences"].items():
        for seq in names:
            if seq not in fold_of:
                raise ConfigError(
                    f"pretrain.folds: {dataset} sequence {seq!r} is in no fold's `evaluate` list; add it to "
                    f"one of {', '.join(evaluated)}"
                )
    for fold, names in evaluated.items():
        cut = copy_paste_sequences(config, fold)
        if cut == "all":  # every annotated sequence but the fold's evaluated ones (lsevos.train.data)
            continue
        overlap = set(names) & set(cut)
        if overlap:
            where = f"pretrain.folds.{fold}" if split else "pretrain.copy_paste.sequences"
            raise ConfigError(
                f"{where}: {sorted(overlap)} would be both cut for copy-paste pretraining and evaluated; "
                "remove them from one list"
            )


# ----------------------------------------------------------------------------------------- sequence names
def _check_sequences(config: dict, base: Path) -> None:
    davis = _davis_names(config, base)
    if davis is not None:
        _check_names(config["sequences"]["davis"], "sequences.davis", *davis)
    segtrack = _segtrack_names(config, base)
    if segtrack is not None:
        _check_names(config["sequences"]["segtrack"], "sequences.segtrack", *segtrack)
    copy_paste = _copy_paste_names(config, base, davis)
    if copy_paste is not None:
        pretrain = config["pretrain"]
        lists = [("pretrain.copy_paste.sequences", (pretrain.get("copy_paste") or {}).get("sequences", []))]
        lists += [
            (f"pretrain.folds.{fold}.copy_paste", spec.get("copy_paste", []))
            for fold, spec in (pretrain.get("folds") or {}).items()
        ]
        for where, names in lists:
            if names != "all":
                _check_names(names, where, *copy_paste)


def _check_names(names: list[str], where: str, available: list[str], origin: str) -> None:
    for position, name in enumerate(names):
        if name not in available:
            listed = ", ".join(available[:MAX_LISTED]) + (", ..." if len(available) > MAX_LISTED else "")
            raise ConfigError(
                f"{where}[{position}]: unknown sequence {name!r}{_hint(name, available)}; "
                f"{origin} has: {listed or 'none'}"
            )


def _davis_folders(root: Path, where: str, required: bool) -> list[str] | None:
    frames = root / "JPEGImages" / "480p"
    if not frames.is_dir():
        if required:
            raise ConfigError(
                f"{where}: {root} has no JPEGImages/480p folder; give a folder in the DAVIS layout "
                "(JPEGImages/480p/<seq>, Annotations/480p/<seq>)"
            )
        return None
    return sorted(path.name for path in frames.iterdir() if path.is_dir())


def _davis_names(config: dict, base: Path) -> tuple[list[str], str] | None:
    """(names, where they come from) of the DAVIS-layout sequences, or None when not known yet."""
    data = config["data"]
    if data.get("davis_root"):
        names = _davis_folders(base / data["davis_root"], "data.davis_root", required=True)
        return names, f"the folder {data['davis_root']}/JPEGImages/480p (data.davis_root)"
    if data["source"] == "synthetic":
        from lsevos.data.synthetic import sequence_names

        return sequence_names(_synthetic_settings(config)), "the built-in benchmark (data.synthetic.settings)"
    if data["source"] == "download":
        root = Path(config["resources_dir"]) / "davis2016" / "DAVIS"
        names = _davis_folders(base / root, "resources_dir", required=False)
        return None if names is None else (names, f"the downloaded folder {root}")
    return None


def _segtrack_names(config: dict, base: Path) -> tuple[list[str], str] | None:
    from lsevos.data.segtrack import SegtrackDataset

    data = config["data"]
    if data.get("segtrack_root"):
        try:
            targets = SegtrackDataset(base / data["segtrack_root"]).targets
        except DataError as error:
            raise ConfigError(f"data.segtrack_root: {error}") from None
        return targets, f"the folder {data['segtrack_root']} (data.segtrack_root; names <seq>_<object>)"
    if data["source"] == "synthetic":
        from lsevos.data.synthetic import segtrack_objects

        return segtrack_objects(
            _synthetic_settings(config)
        ), "the built-in benchmark (data.synthetic.settings)"
    if data["source"] == "download":
        root = Path(config["resources_dir"]) / "segtrackv2" / "SegTrackv2"
        try:
            return SegtrackDataset(base / root).targets, f"the downloaded folder {root}"
        except DataError:
            return None
    return None


def _copy_paste_names(
    config: dict, base: Path, davis: tuple[list[str], str] | None
) -> tuple[list[str], str] | None:
    root = (config["pretrain"].get("copy_paste") or {}).get("davis_root")
    if not root:
        return davis
    names = _davis_folders(base / root, "pretrain.copy_paste.davis_root", required=True)
    return names, f"the folder {root}/JPEGImages/480p (pretrain.copy_paste.davis_root)"


def _synthetic_settings(config: dict) -> dict | None:
    return (config["data"].get("synthetic") or {}).get("settings")
