"""The base of the configuration models: strict values, ranges in words, one-line errors naming the key."""

from __future__ import annotations

import pytest

from lsevos.errors import ConfigError
from lsevos.settings_base import Settings, in_range, range_text, setting


class Knobs(Settings):
    """A block for the tests."""

    size: int = setting(8, "a size", unit="px", ge=8, le=64)
    share: float = setting(0.5, "a share", gt=0.0, lt=1.0)
    growth: float = setting(0.0, "a growth cap", ge=1.0, off=0.0)
    flag: bool = setting(False, "a switch")


def test_ranges_in_words_and_their_checks():
    assert range_text({"ge": 8, "le": 64}) == "8..64"
    assert range_text({"gt": 0.0, "lt": 1.0}) == "0 < x < 1"
    assert range_text({"ge": 0.0, "lt": 0.5}) == "0 <= x < 0.5"
    assert range_text({"gt": 0}) == "> 0"
    assert range_text({"ge": 1.0, "off": 0.0}) == "0 or >= 1"
    assert in_range(0.0, {"ge": 1.0, "off": 0.0}) and in_range(1.0, {"ge": 1.0, "off": 0.0})
    assert not in_range(0.5, {"ge": 1.0, "off": 0.0})
    assert not in_range(1.0, {"gt": 0.0, "lt": 1.0}) and in_range(64, {"ge": 8, "le": 64})


def test_values_are_strict_and_integers_are_taken_as_numbers():
    knobs = Knobs(share=0.25, growth=2)
    assert knobs.growth == 2.0 and isinstance(knobs.growth, float)
    assert Knobs.from_dict({"size": 16}) == Knobs(size=16) and Knobs().to_dict()["size"] == 8
    with pytest.raises(ConfigError, match=r"^size: expected an integer \(int\), got True \(bool\)$"):
        Knobs(size=True)
    with pytest.raises(ConfigError, match=r"^flag: expected a boolean \(bool\), got 1 \(int\)$"):
        Knobs(flag=1)
    with pytest.raises(ConfigError, match=r"^size: expected an integer \(int\), got 8.0 \(float\)$"):
        Knobs(size=8.0)


def test_errors_name_the_key_below_the_block_and_what_is_allowed():
    cases = {
        "sise": "knobs.sise: unknown key (did you mean 'size'?); allowed keys: flag, growth, share, size",
        "share": "knobs.share: invalid value 1.5; allowed: 0 < x < 1",
        "growth": "knobs.growth: invalid value 0.5; allowed: 0 or >= 1",
        "size": "knobs.size: invalid value 4; allowed: 8..64",
    }
    values = {"sise": 8, "share": 1.5, "growth": 0.5, "size": 4}
    for key, message in cases.items():
        with pytest.raises(ConfigError) as caught:
            Knobs.from_dict({key: values[key]}, "knobs")
        assert str(caught.value) == message
    with pytest.raises(ConfigError, match="^knob setting 'size': invalid value 4"):
        Knobs.from_dict({"size": 4}, "knob setting")
    with pytest.raises(ConfigError, match="^knobs: expected a mapping of keys to values, got list$"):
        Knobs.from_dict([], "knobs")
    with pytest.raises(ValueError, match="frozen"):  # a block is a value
        Knobs().size = 9  # type: ignore[misc]
