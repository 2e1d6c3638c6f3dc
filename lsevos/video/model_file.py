"""The model `lsevos segment` uses, and the model file `make model` ships.

Choice (first that applies): `--checkpoint`; `$LSEVOS_CHECKPOINT`; the project's CPU model
`models/lsevos-cpu.pt` (in the current folder, else in the checkout the package is installed from); the
newest `results*/**/pretrain/**/stage3.pt` under the current folder.

A model whose pretraining read only the built-in synthetic benchmark (`make demo`) knows coloured shapes,
not objects (docs/experiments.md, E17): it is refused unless `--checkpoint` names it, with a message that
says to run `make model`. Pretraining records this in the checkpoint (`config["builtin_only"]`); for
older checkpoints it is worked out from the recorded data folders.

Model file (`lsevos package-model`): a pretrained checkpoint with `extra["video_settings"]` (the video
settings it is meant to run with, `device` set to "auto": `lsevos segment` starts from them) and
`extra["card"]` (data, steps, how it was measured), plus the card as Markdown beside it (`<name>.md`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lsevos.errors import ConfigError

DEFAULT_MODEL = Path("models") / "lsevos-cpu.pt"
CHECKPOINT_PATTERN = "results*/**/pretrain/**/stage3.pt"
MAKE_MODEL_HINT = (
    "run `make model` in the lse-vos checkout (builds models/lsevos-cpu.pt on the CPU: about 5 minutes on "
    "2 cores with DAVIS_ROOT=PATH, your DAVIS copy; without it the DAVIS 2016 download comes first)"
)


# The configuration whose video settings the shipped model stores (`make model`).
CPU_CONFIG = Path("config") / "cpu.yaml"


def checkout() -> Path | None:
    """The lse-vos checkout the package is installed from (editable), or None."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else None


def default_model_paths(root: Path) -> list[Path]:
    """Where the shipped CPU model is looked for: under `root`, then in the checkout of the package."""
    places = [root / DEFAULT_MODEL]
    found = checkout()
    if found is not None:
        places.append(found / DEFAULT_MODEL)
    return places


def modelless_defaults() -> tuple[dict[str, object], str]:
    """The video settings a run without a model starts from (the prior alone), and what they are: the
    `video` block of the checkout's config/cpu.yaml (those the shipped model stores, so the tracker is the
    one of the README's prior-alone rows); outside a checkout, the settings' own defaults (the paper's
    tracker)."""
    from lsevos.settings_text import load_document

    found = checkout()
    if found is not None and (found / CPU_CONFIG).is_file():
        document = load_document(found / CPU_CONFIG)
        video = document.get("video") if isinstance(document, dict) else None
        if isinstance(video, dict):
            return dict(video), f"the video settings of {found / CPU_CONFIG}"
    return (
        {},
        "the default video settings (the paper's tracker; no lse-vos checkout to read config/cpu.yaml from)",
    )


def choose_checkpoint(explicit: Path | None, root: Path, what: str = "--checkpoint") -> tuple[Path, str]:
    """(checkpoint, how it was chosen); `ConfigError` with what to run when there is none. `what` names
    `explicit` in messages (the option, or the Python argument)."""
    found = find_checkpoint(explicit, root, what)
    if found is None:
        raise no_model(root, what)
    return found


def no_model(root: Path, what: str = "--checkpoint") -> ConfigError:
    """The refusal where `find_checkpoint` found no model under `root`, with what to run."""
    given = (
        "pass --checkpoint CKPT" if what == "--checkpoint" else 'pass the model: Segmenter.load("model.pt")'
    )
    return ConfigError(
        f"no model: {DEFAULT_MODEL} is not built, nothing matches {CHECKPOINT_PATTERN} under {root} and "
        f"LSEVOS_CHECKPOINT is not set; {MAKE_MODEL_HINT}, or {given}"
    )


def find_checkpoint(explicit: Path | None, root: Path, what: str = "--checkpoint") -> tuple[Path, str] | None:
    """`choose_checkpoint`'s choice, or None where no model is named and none is found; a model that is
    named (`explicit`, `$LSEVOS_CHECKPOINT`) but missing is refused."""
    if explicit is not None:
        if Path(explicit).is_dir():
            from lsevos.train.checkpoint import folder_hint

            raise ConfigError(f"{what} {explicit}: {folder_hint(explicit)}")
        if not Path(explicit).is_file():
            raise ConfigError(f"{what} {explicit} does not exist; pass a .pt file (or {MAKE_MODEL_HINT})")
        return Path(explicit), what
    from_environment = os.environ.get("LSEVOS_CHECKPOINT")
    if from_environment:
        path = Path(from_environment)
        if not path.is_file():
            raise ConfigError(f"LSEVOS_CHECKPOINT={from_environment} does not exist; point it at a .pt file")
        return path, "$LSEVOS_CHECKPOINT"
    for path in default_model_paths(root):
        if path.is_file():
            return path, "the project's CPU model"
    found = [path for path in root.glob(CHECKPOINT_PATTERN) if path.is_file()]
    if found:
        return max(found, key=lambda path: path.stat().st_mtime), f"the newest {CHECKPOINT_PATTERN}"
    return None


def trained_on_builtin_only(payload: dict) -> bool:
    config = payload.get("config") or {}
    if "builtin_only" in config:
        return bool(config["builtin_only"])
    data = config.get("data")
    if isinstance(data, dict):
        from lsevos.train.data import builtin_only

        return builtin_only(data)
    return False


def refuse_builtin_model(payload: dict, path: Path, how: str) -> None:
    """`ConfigError` when a model of the built-in benchmark was picked by anything but `--checkpoint`."""
    if how != "--checkpoint" and trained_on_builtin_only(payload):
        raise ConfigError(
            f"{path} ({how}) was pretrained only on the built-in synthetic benchmark of `make demo`: it "
            f"knows coloured shapes, not real objects; {MAKE_MODEL_HINT}; or pass "
            f"--checkpoint {path} to use it anyway"
        )


def stored_video_settings(payload: dict) -> dict | None:
    extra = payload.get("extra") or {}
    settings = extra.get("video_settings")
    return dict(settings) if isinstance(settings, dict) else None


def refuse_stored_settings(path: str | os.PathLike, payload: dict) -> None:
    """When the video settings stored in model file `path` are refused by this version on their own (a
    file written by another version), raise a `ConfigError` that names the file and the fixes; else
    return (the settings given on top of them are what was refused)."""
    from lsevos.video.settings import VideoSettings

    stored = stored_video_settings(payload)
    if stored is None:
        return
    try:
        VideoSettings.from_dict(stored)
    except ConfigError as error:
        raise ConfigError(
            f"{path}: this version refuses the video settings stored in the model file ({error}); give "
            "the fix with --settings, or package the model again (`lsevos package-model`; "
            "`make model` for models/lsevos-cpu.pt)"
        ) from None


def card_path(model: str | os.PathLike) -> Path:
    """The model card beside a model file: `<name>.md` for `<name>.pt`."""
    model = Path(model)
    if model.suffix != ".pt":
        raise ConfigError(f"{model}: a model file must end in .pt (its card is written beside it as .md)")
    return model.with_suffix(".md")


def package_model(
    checkpoint: str | os.PathLike, video_settings: dict, card: dict, out: str | os.PathLike
) -> Path:
    """Write the model file `out` (checkpoint + video settings + card) and the card `out` with .md."""
    import torch

    from lsevos.data.io import atomic_output
    from lsevos.train.checkpoint import require_fp_head
    from lsevos.video.settings import VideoSettings

    card_file = card_path(out)
    payload = require_fp_head(checkpoint)
    # checked and complete; `device` is where a run computes, not a property of the model: "auto"
    settings = VideoSettings.from_dict({**video_settings, "device": "auto"}).to_dict()
    payload["optimizer_state"] = None
    payload["extra"] = {**(payload.get("extra") or {}), "video_settings": settings, "card": card}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out) as temporary:
        torch.save(payload, temporary)
    with atomic_output(card_file) as temporary:
        temporary.write_text(model_card(payload, out.name))
    return out


def model_card(payload: dict, name: str) -> str:
    """The Markdown card of a model file's payload."""
    extra = payload.get("extra") or {}
    card = extra.get("card") or {}
    config = payload.get("config") or {}
    lines = [f"# {name}", ""]
    lines += [f"{card.get('summary', 'An lse-vos model.')}", ""]
    lines += ["| | |", "| --- | --- |"]
    lines += [f"| network | {json.dumps(payload.get('model_config'))} |"]
    lines += [f"| pretraining stage | {config.get('stage')} ({payload.get('step')} steps of this stage) |"]
    for key, value in card.items():
        if key != "summary":
            lines += [f"| {key} | {value if isinstance(value, str) else json.dumps(value)} |"]
    lines += [
        "",
        "Video settings it runs with (`lsevos segment` starts from these; `--settings` overrides):",
        "",
    ]
    lines += ["```json", json.dumps(extra.get("video_settings"), indent=1, sort_keys=True), "```", ""]
    return "\n".join(lines)
