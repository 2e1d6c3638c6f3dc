"""The whole workflow configuration (`config/*.yaml`), checked once before any job runs.

`check_config(config)` raises `ConfigError` with a short message that starts with the key path
(`video.crop_sise: ...`, `pretrain.stage2.lr: ...`, `sequences.davis[3]: ...`) and names the allowed keys
or values. Every rule has one home, and this module only calls it:

- structure, types, ranges and allowed values of every key: the models of `lsevos.config_models`
  (`WorkflowConfig`, with the `video`, stage and benchmark settings the commands read themselves);
- sequence names: the folders of a configured (or already downloaded) dataset, or the names the built-in
  benchmark generates with `data.synthetic.settings`; nothing is checked when the data is not there yet;
- `pretrain.folds`: every evaluated sequence in exactly one fold, none both evaluated and cut for
  copy-paste pretraining by the same model (`lsevos.workflow_plan.folds`);
- something to evaluate: at least one sequence, and a variant run on its dataset (unless the
  configuration only builds a model: `shipped_model`);
- the salient-object prior installed when a job runs it (`lsevos.video.saliency.check_available`).

No Snakemake import: the workflow calls it from `workflow/rules/common.smk`, tests call it directly.
"""

from __future__ import annotations

from pathlib import Path

from lsevos.errors import ConfigError, DataError
from lsevos.settings_base import hint as _hint
from lsevos.workflow_plan import (
    DAVIS_DOWNLOAD,
    GRABCUT,
    SEGTRACK_DOWNLOAD,
    copy_paste_sequences,
    evaluated,
    folds,
)

__all__ = ["GRABCUT", "check_config"]
MAX_LISTED = 30  # names listed in one message at most


def check_config(config: object, base_dir: str | Path | None = None) -> None:
    """Check every block and value of a workflow configuration; `ConfigError` naming the first bad key.

    `base_dir`: the folder relative data paths are read from (default: the current directory, Snakemake's
    working directory).
    """
    from lsevos.config_models import WorkflowConfig

    if not isinstance(config, dict):
        raise ConfigError(f"config: expected a mapping of keys to values, got {type(config).__name__}")
    base = Path.cwd() if base_dir is None else Path(base_dir)
    checked = WorkflowConfig.from_dict(config, "")
    _check_evaluated(config)
    variants = _run_variants(config)
    _check_prior(variants, checked.video.saliency_weight)
    _check_network_read(variants, checked.video)
    _check_data(config, base)
    _check_sequences(config, base)
    _check_folds(config)


def _check_evaluated(config: dict) -> None:
    """Something to segment and evaluate, unless the configuration only builds a model (`shipped_model`,
    config/model.yaml)."""
    if config.get("shipped_model"):
        return
    if not any(config["sequences"].values()):
        raise ConfigError(
            "sequences: no sequence to segment and evaluate; list at least one in sequences.davis or "
            "sequences.segtrack (a configuration that only builds a model sets shipped_model, as "
            "config/model.yaml)"
        )
    if not evaluated(config):
        raise ConfigError(
            "segtrack_variants: the configuration evaluates nothing (only SegTrack sequences, and no variant "
            "run on them); add a variant (e.g. ours) or DAVIS sequences"
        )


def _run_variants(config: dict) -> set[str]:
    """The variants a run segments: those evaluated, and `main_variant` (whose masks every sequence
    gets) when there are sequences."""
    variants = {variant for _, variant in evaluated(config)}
    if any(config["sequences"].values()):
        variants.add(config["main_variant"])
    return variants


def _check_prior(variants: set[str], weight: float) -> None:
    """The salient-object prior installed when a job will run it, so that a run missing it stops here, not
    at its first video job after pretraining: a video variant with `video.saliency_weight` (`weight`) > 0,
    or `prior`, among those evaluated or as `main_variant` (whose masks every sequence gets). A
    configuration that only builds a model (`config/model.yaml`) runs no video job. `variants`:
    `_run_variants`."""
    if "prior" in variants or (weight > 0 and variants - {GRABCUT}):
        from lsevos.video.saliency import check_available

        check_available()


def _check_network_read(variants: set[str], video) -> None:
    """Video settings whose scans never run the network (`lsevos.video.saliency.runs_network`: the prior
    alone) leave every family's fine-tune and retraining unread, and the chain refuses them
    (`lsevos adapt`, `lsevos.video.chain.run_chain`): refused here, before pretraining, when a variant
    other than `prior` or GrabCut is run (`variants`: `_run_variants`)."""
    from lsevos.video.saliency import runs_network

    if variants - {GRABCUT, "prior"} and not runs_network(video):
        raise ConfigError(
            f"video.saliency_weight: {video.saliency_weight} without network_veto never runs the network, "
            "so no variant's fine-tune would be read; lower it, or evaluate the prior alone as the variant "
            "`prior`"
        )


def _check_data(config: dict, base: Path) -> None:
    data = config["data"]
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
            unset = (
                " (snakemake --config passes its values as text: unset it in a --configfile YAML)"
                if str(root).lower() in ("null", "none", "~")
                else ""
            )
            raise ConfigError(
                f"{where}: no folder {root} (relative to {base}); fix the path or set it to null{unset}"
            )


# --------------------------------------------------------------------------------------------------- folds
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
            elif "copy_paste" in pretrain["sources"]:
                _check_something_left(config, where, *copy_paste)


def _check_something_left(config: dict, where: str, available: list[str], origin: str) -> None:
    """`all` leaves at least one sequence of the copy-paste folder that no fold evaluates."""
    for fold, names in folds(config).items():
        if not set(available) - set(names):
            raise ConfigError(
                f"{where}: `all` leaves no training sequence in {origin}: every one is evaluated"
                f"{'' if fold == 'all' else f' by fold {fold}'}; set pretrain.copy_paste.davis_root to a "
                "folder of training sequences (e.g. DAVIS 2016 train)"
            )


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
        root = Path(config["resources_dir"]) / DAVIS_DOWNLOAD
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
        root = Path(config["resources_dir"]) / SEGTRACK_DOWNLOAD
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
