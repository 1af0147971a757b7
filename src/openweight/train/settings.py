"""Checks on training settings: a bad value is named, with what it must be, before any work starts."""

from __future__ import annotations

import dataclasses

from ..errors import RecipeError


def require(ok: bool, name: str, must: str, value) -> None:
    if not ok:
        raise RecipeError(f"'{name}' must be {must}, got {value!r}")


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def positive_ints(config, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        require(is_int(value) and value >= 1, name, "a positive integer", value)


def counts(config, *names: str) -> None:
    """Integers from 0."""
    for name in names:
        value = getattr(config, name)
        require(is_int(value) and value >= 0, name, "an integer >= 0", value)


def positive_numbers(config, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        require(is_number(value) and value > 0, name, "a number > 0", value)


def non_negative_numbers(config, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        require(is_number(value) and value >= 0, name, "a number >= 0", value)


def one_of(config, name: str, choices: tuple) -> None:
    value = getattr(config, name)
    require(value in choices, name, " or ".join(map(repr, choices)), value)


def build(cls, values, where: str):
    """cls(**values) for a settings dataclass, errors prefixed with `where` (e.g. 'SFT.train')."""
    if not isinstance(values, dict):
        raise RecipeError(f"{where} must be a dict of settings, got {type(values).__name__}")
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in values if k not in known]
    if unknown:
        raise RecipeError(f"{where}: unknown setting {unknown[0]!r} (known: {', '.join(known)})")
    required = [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing := [name for name in required if name not in values]:
        raise RecipeError(f"{where}: {missing[0]!r} is missing")
    try:
        return cls(**values)
    except RecipeError as e:
        raise RecipeError(f"{where}: {e}") from None
