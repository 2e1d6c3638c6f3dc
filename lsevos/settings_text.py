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
        if not is_file(path):
            try:
                parsed = json.loads(stripped)
            except json.JSONDecodeError:
                parsed = None
            kinds = {list: "a list", bool: "true/false", int: "a number", float: "a number", str: "a string"}
            if type(parsed) in kinds:
                raise ConfigError(
                    f"{option} {text!r}: JSON, but {kinds[type(parsed)]}, not an object; pass a JSON object "
                    "such as '{\"key\": 1}' or a JSON/YAML file"
                )
            raise ConfigError(
                f"{option} {text!r}: neither an existing file nor valid JSON; pass a JSON/YAML file or a "
                "JSON object such as '{\"key\": 1}'"
            )
        values = load_document(path)
        origin = str(path)
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"{origin}: settings must be a key: value mapping, not {type(values).__name__}")
    return values


def is_file(path: Path) -> bool:
    """`path.is_file()`, False for a text no file system takes as a path (a name over the length limit:
    inline YAML pasted on the command line), which `Path.is_file` raises `OSError` for."""
    try:
        return path.is_file()
    except OSError:
        return False


def _unique_pairs(path: Path):
    def pairs(items: list[tuple[str, object]]) -> dict:
        seen: dict = {}
        for key, value in items:
            if key in seen:
                raise ConfigError(f"{path}: key {key!r} is given twice; give each key once")
            seen[key] = value
        return seen

    return pairs


def _yaml_loader():
    """A safe YAML loader that refuses a mapping key given twice (PyYAML keeps the last one silently)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
        loader.flatten_mapping(node)
        seen = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice; give each key once", key_node.start_mark
                )
            seen.add(key)
        return loader.construct_mapping(node, deep=True)

    UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return UniqueKeyLoader


def load_document(path: str | Path) -> object:
    """A JSON or YAML file's document (None when empty). A syntax error is one `ConfigError` line naming
    the file, line and column; a mapping key given twice is refused (JSON and YAML alike)."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot be read as text ({error}); give a JSON or YAML file") from None
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text, object_pairs_hook=_unique_pairs(path)) if text.strip() else None
        except json.JSONDecodeError as error:
            raise ConfigError(
                f"{path}, line {error.lineno}, column {error.colno}: not valid JSON ({error.msg}); fix the "
                "file"
            ) from None
    try:
        return yaml.load(text, Loader=_yaml_loader())  # noqa: S506 (a SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = error.problem or error.context or "syntax error"
        raise ConfigError(f"{path}{where}: not valid YAML/JSON ({problem}); fix the file") from None
    except yaml.YAMLError as error:
        raise ConfigError(
            f"{path}: not valid YAML/JSON ({str(error).splitlines()[0]}); fix the file"
        ) from None
