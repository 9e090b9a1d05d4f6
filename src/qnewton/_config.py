"""Private: one place for a configuration field's default, help text, check and command-line flag.

Run configurations are frozen dataclasses whose fields are declared with :func:`option`::

    @dataclass(frozen=True)
    class Table3Config(Checked):
        eps: float = option(0.05, "regularization H + eps I", check="positive")
        newton_steps: int = option(40, "Newton steps after the warm-up", check="count")

:class:`Checked` validates every field at construction (typed errors naming the field and the
fix), and :mod:`qnewton.cli._options` generates the command-line options from the same fields:
flag, type, choices, help and the default shown in ``--help`` cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from numbers import Integral, Real
from typing import Any

from .errors import InvalidArgumentError

__all__ = ["CHECKS", "Checked", "option", "validate_fields"]

_MISSING: Any = dataclasses.MISSING


def _positive(v: Any) -> str | None:
    return None if _is_real(v) and math.isfinite(float(v)) and float(v) > 0 else "must be a number > 0"


def _nonnegative(v: Any) -> str | None:
    return None if _is_real(v) and math.isfinite(float(v)) and float(v) >= 0 else "must be a number >= 0"


def _fraction(v: Any) -> str | None:
    return None if _is_real(v) and 0 < float(v) <= 1 else "must be in (0, 1]"


def _open_unit(v: Any) -> str | None:
    return None if _is_real(v) and 0 < float(v) < 1 else "must be in (0, 1)"


def _count(v: Any) -> str | None:  # steps, sizes that may be 0
    return None if _is_int(v) and int(v) >= 0 else "must be an integer >= 0"


def _natural(v: Any) -> str | None:
    return None if _is_int(v) and int(v) >= 1 else "must be an integer >= 1"


def _is_real(v: Any) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool)


#: Named checks: ``check="positive"`` etc. A callable ``check(value) -> message or None`` works too.
CHECKS: Mapping[str, Callable[[Any], str | None]] = {
    "positive": _positive,
    "nonnegative": _nonnegative,
    "fraction": _fraction,
    "open-unit": _open_unit,
    "count": _count,
    "natural": _natural,
}


def option(
    default: Any = _MISSING,
    help: str = "",
    *,
    check: str | Callable[[Any], str | None] | None = None,
    choices: Sequence[Any] | None = None,
    flag: str | None = None,
    aliases: Mapping[str, str] | None = None,
    default_factory: Callable[[], Any] | None = None,
    cli: bool = True,
    metavar: str | None = None,
) -> Any:
    """A dataclass field with its help text, check, choices and command-line flag.

    Args:
        default / default_factory: as for ``dataclasses.field``.
        help: one line for ``--help`` (the default is appended by the CLI).
        check: a name of :data:`CHECKS` or ``check(value) -> error message | None``; ``None`` values
            (an optional field left unset) are not checked.
        choices: the allowed values.
        flag: the option as typed (default ``--field-name``).
        aliases: old spellings still accepted, ``{"--old": "why it changed"}`` (a deprecation
            warning names the new option).
        cli: False keeps the field out of the command line.
    """
    meta = {
        "help": help,
        "check": check,
        "choices": tuple(choices) if choices is not None else None,
        "flag": flag,
        "aliases": dict(aliases or {}),
        "cli": cli,
        "metavar": metavar,
    }
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def validate_fields(obj: Any) -> None:
    """Run every field's check and choices; raise InvalidArgumentError naming the field and the fix."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if value is None:
            continue
        choices = f.metadata.get("choices")
        if choices is not None:
            values = value if isinstance(value, tuple) and not isinstance(choices[0], tuple) else (value,)
            bad = [v for v in values if v not in choices]
            if bad:
                raise InvalidArgumentError(
                    f"`{f.name}` must be one of {', '.join(map(str, choices))}, got {bad[0]!r}.", argument=f.name
                )
        check = f.metadata.get("check")
        if check is None:
            continue
        fn = CHECKS[check] if isinstance(check, str) else check
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            message = fn(item)
            if message is not None:
                raise InvalidArgumentError(f"`{f.name}` {message}, got {item!r}.", argument=f.name)


class Checked:
    """Mixin for frozen config dataclasses: every field validated at construction."""

    def __post_init__(self) -> None:
        validate_fields(self)
