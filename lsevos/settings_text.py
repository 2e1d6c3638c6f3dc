"""Command-line settings given as inline JSON or as a JSON/YAML file, read into a mapping."""

from __future__ import annotations

import json
from pathlib import Path

from lsevos.errors import ConfigError


def read_mapping(text: str, option: str) -> dict:
    """`text`: inline JSON (starting with `{`) or the path of a JSON/YAML file -> its mapping (an empty file
    gives `{}`); anything else raises `ConfigError` naming `option` or the file."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            values = json.loads(stripped)
        except json.JSONDecodeError as error:
            raise ConfigError(
                f"{option} {text!r}: neither an existing file nor valid JSON ({error}); pass a JSON/YAML "
                "file or a JSON object such as '{\"key\": 1}'"
            ) from None
        origin = option
    else:
        path = Path(stripped)
        if not path.is_file():
            raise ConfigError(
                f"{option} {text!r}: neither an existing file nor valid JSON; pass a JSON/YAML file or a "
                "JSON object such as '{\"key\": 1}'"
            )
        import yaml

        try:
            values = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML/JSON ({error}); fix the file") from None
        origin = str(path)
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"{origin}: settings must be a key: value mapping, not {type(values).__name__}")
    return values
