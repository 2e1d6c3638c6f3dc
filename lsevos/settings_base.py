"""The base of every configuration model: one typed field per key, and one-line errors naming the key.

A block of settings is a frozen pydantic model (`Settings`) whose fields are declared with `setting(...)`:
type (the annotation), default, allowed range, unit and one-line meaning. The JSON schema of the workflow,
the key tables of `config/README.md` and the commands' `--settings` checks all come from these fields
(`lsevos.config_models`).

Values are checked strictly, as YAML gives them: an integer where a number is expected is taken (as a
float), but a string, a bool posing as a number or a float where an integer is expected is refused. Any
failure raises `ConfigError` with one line that starts with the key path and says what is allowed (the
allowed keys with "did you mean", the allowed values, the range).
"""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Iterable
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic._internal._model_construction import ModelMetaclass

from lsevos.errors import ConfigError

REQUIRED: Any = ...  # `setting(REQUIRED, ...)`: the key has no default and must be given

_repr = reprlib.Repr()
_repr.maxstring = 40
_repr.maxother = 40

# pydantic's type errors -> the type named in the message
_TYPE_NAMES = {
    "int_type": "an integer (int)",
    "int_from_float": "an integer (int)",
    "float_type": "a number (float)",
    "bool_type": "a boolean (bool)",
    "string_type": "a string (str)",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping of keys to values",
    "model_type": "a mapping of keys to values",
    "model_attributes_type": "a mapping of keys to values",
}

# pydantic's scalar type errors -> the types a text must read as to be a value Snakemake left as text
_SCALAR_TYPES: dict[str, tuple[type, ...]] = {
    "int_type": (int,),
    "int_from_float": (int,),
    "float_type": (int, float),
    "bool_type": (bool,),
}
_TEXT_HINT = (
    "; Snakemake's --config reads every value inside 'key={...}' as text: set this key in a --configfile"
)


def _reads_as(value: object, kinds: tuple[type, ...]) -> bool:
    """Whether `value` is text that YAML reads as one of `kinds` ('1.0' as a number, 'true' as a
    boolean): what Snakemake's --config leaves of a number inside a mapping."""
    import yaml

    if not isinstance(value, str):
        return False
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return False
    if bool not in kinds and isinstance(parsed, bool):
        return False
    return isinstance(parsed, kinds)


def setting(
    default: Any = REQUIRED,
    meaning: str = "",
    *,
    unit: str | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    off: float | None = None,
    example: str | None = None,
    **field: Any,
) -> Any:
    """A configuration key: its default (`REQUIRED`: none), one-line meaning, unit, and allowed range
    (`ge`/`gt`/`le`/`lt`; with `off`, that value is allowed too and switches the feature off).

    `example`: a value shown in config/README.md for a required key. Other keyword arguments go to
    pydantic's `Field` (e.g. `pattern`, `min_length`, `default_factory`)."""
    bounds = {"ge": ge, "gt": gt, "le": le, "lt": lt}
    bounds = {name: value for name, value in bounds.items() if value is not None}
    extra: dict[str, Any] = {}
    if unit:
        extra["x-unit"] = unit
    if example:
        extra["x-example"] = example
    if bounds:
        extra["x-range"] = {**bounds, **({"off": off} if off is not None else {})}
        limits = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}
        in_range = {limits[name]: value for name, value in bounds.items()}
        if off is None:
            extra.update(in_range)
        else:
            extra["anyOf"] = [{"const": off}, in_range]
    if "default_factory" not in field:
        field["default"] = default
    return Field(description=meaning, json_schema_extra=extra or None, **field)


def range_text(spec: dict[str, float]) -> str:
    """{'ge': 8, 'le': 10000} -> '8..10000'; {'gt': 0, 'lt': 1} -> '0 < x < 1'; {'ge': 1, 'off': 0} ->
    '0 or >= 1'."""
    low = ("ge", spec["ge"]) if "ge" in spec else ("gt", spec["gt"]) if "gt" in spec else None
    high = ("le", spec["le"]) if "le" in spec else ("lt", spec["lt"]) if "lt" in spec else None
    signs = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    if low and high:
        if low[0] == "ge" and high[0] == "le" and all(isinstance(v, int) for v in (low[1], high[1])):
            text = f"{low[1]}..{high[1]}"
        else:
            text = f"{low[1]:g} {signs[low[0]].replace('>', '<')} x {signs[high[0]]} {high[1]:g}"
    else:
        sign, value = low or high  # type: ignore[misc]
        text = f"{signs[sign]} {value:g}"
    return f"{spec['off']:g} or {text}" if "off" in spec else text


def in_range(value: float, spec: dict[str, float]) -> bool:
    if "off" in spec and value == spec["off"]:
        return True
    checks = {
        "ge": lambda bound: value >= bound,
        "gt": lambda bound: value > bound,
        "le": lambda bound: value <= bound,
        "lt": lambda bound: value < bound,
    }
    return all(checks[name](bound) for name, bound in spec.items() if name != "off")


class _RaisesConfigError(ModelMetaclass):
    """`Block(**values)` raises `ConfigError` (one line naming the key), not pydantic's error."""

    def __call__(cls, *args: Any, **values: Any) -> Any:
        try:
            return super().__call__(*args, **values)
        except ValidationError as error:
            raise ConfigError(describe(error, cls)) from None  # type: ignore[arg-type]


class Settings(BaseModel, metaclass=_RaisesConfigError):
    """A block of configuration keys: unknown keys are refused, values are checked strictly, the object
    is immutable; `Settings(**values)` and `Settings.from_dict(values)` raise `ConfigError`."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, validate_default=False)

    @classmethod
    def from_dict(cls, values: object, where: str = ""):
        """Build from a mapping; `ConfigError` whose message starts with the key path below `where`."""
        if not isinstance(values, dict):
            raise ConfigError(
                f"{where or cls.__name__}: expected a mapping of keys to values, got {type(values).__name__}"
            )
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            raise ConfigError(describe(error, cls, where)) from None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    @field_validator("*")
    @classmethod
    def _check_range(cls, value: Any, info: Any) -> Any:
        extra = cls.model_fields[info.field_name].json_schema_extra
        spec = extra.get("x-range") if isinstance(extra, dict) else None
        if spec and isinstance(value, int | float) and not in_range(value, spec):  # type: ignore[arg-type]
            raise ValueError(f"range:{range_text(spec)}")  # type: ignore[arg-type]
        return value


def key_path(*parts: object) -> str:
    """('pretrain', 'folds', 'a', 'evaluate', 2) -> 'pretrain.folds.a.evaluate[2]'."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part != "":
            text = f"{text}.{part}" if text else str(part)
    return text


def hint(name: object, choices: Iterable[object]) -> str:
    """' (did you mean 'x'?)' for the closest of `choices`, or ''."""
    if not isinstance(name, str):
        return ""
    close = difflib.get_close_matches(name, [str(choice) for choice in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The model class that holds the last key of `loc` (None when it is not a model's key)."""
    current: type[BaseModel] | None = model
    mapping = False  # the previous key's value maps names to `current`: this part is such a name
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue  # list positions keep the item's model
        if mapping:
            mapping = False
            continue
        field = current.model_fields.get(part)
        current, mapping = block_of(field.annotation) if field else (None, False)
    return current


def block_of(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """(the model a key's value is, or holds in a list or mapping; whether it maps names to that model)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    if get_origin(annotation) is dict:
        inner, _ = block_of(get_args(annotation)[1])
        return inner, True
    for argument in get_args(annotation):
        inner, mapping = block_of(argument)
        if inner is not None:
            return inner, mapping
    return None, False


def describe(error: ValidationError, model: type[BaseModel], where: str = "") -> str:
    """One line for the first of pydantic's errors: key path, what is wrong, what is allowed."""
    first = error.errors(include_url=False)[0]
    loc = tuple(part for part in first["loc"] if not (isinstance(part, str) and "[" in part))
    path = key_path(where, *loc)
    if " " in where:  # a phrase, not a key path: "pretrain setting 'lr'"
        path = f"{where} {key_path(*loc)!r}" if loc else where
    value, kind, context = first.get("input"), first["type"], first.get("ctx") or {}
    if kind == "extra_forbidden":
        holder = _model_at(model, loc)
        keys = sorted(holder.model_fields) if holder else []
        listed = f"; allowed keys: {', '.join(keys)}" if keys else ""
        return f"{path}: unknown key{hint(loc[-1], keys)}{listed}"
    if kind == "missing":
        return f"{path}: missing key; add it (see config/README.md)"
    if kind == "literal_error":
        expected = [
            part.strip().strip("'") for part in context.get("expected", "").replace(" or ", ",").split(",")
        ]
        return (
            f"{path}: {_repr.repr(value)} is not allowed{hint(value, expected)}; "
            f"choose one of {', '.join(expected)}"
        )
    if kind in _TYPE_NAMES:
        text = _TEXT_HINT if kind in _SCALAR_TYPES and _reads_as(value, _SCALAR_TYPES[kind]) else ""
        return f"{path}: expected {_TYPE_NAMES[kind]}, got {_repr.repr(value)} ({type(value).__name__}){text}"
    if kind == "value_error" and str(context.get("error", "")).startswith("range:"):
        allowed = str(context["error"])[len("range:") :]
        return f"{path}: invalid value {_repr.repr(value)}; allowed: {allowed}"
    if kind == "string_pattern_mismatch":
        return f"{path}: {_repr.repr(value)} does not match {context.get('pattern')}"
    if kind == "too_short":
        return f"{path}: must not be empty"
    message = first["msg"].removeprefix("Value error, ")
    return f"{path or model.__name__}: {message}"
