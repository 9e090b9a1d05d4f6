"""Command-line options generated from run configurations, and the one error path of the CLI.

A subcommand's options are the fields of its config dataclass (declared with
``qnewton._config.option``): :func:`add_config_options` turns each field into one option (flag,
type, choices, help and the default shown in ``--help``), recursing into nested config dataclasses;
:func:`config_from_args` builds the config back from the options the user gave (the others keep
the config's defaults, so defaults live in one place) and turns a validation error into a
:class:`UsageError` that names the option as typed. ``qnewton.cli.main`` prints any
:class:`~qnewton.errors.QNewtonError` as one line on stderr and exits with code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import types
import typing
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from ..errors import InvalidArgumentError, QNewtonError

__all__ = [
    "UsageError",
    "add_config_options",
    "common_run_options",
    "config_from_args",
    "gate_time",
]


class UsageError(QNewtonError, ValueError):
    """A bad command-line option: the message names the option as typed and the fix."""


def gate_time(v: str) -> str | float:
    """``--gate-time``: seconds as a number, or a preset name (resolved and checked by the cost model)."""
    try:
        return float(v)
    except ValueError:
        return v


_OPTMAP = "_qnewton_option_map"


def _resolve(tp: Any) -> tuple[Any, bool]:
    """(the non-None type, whether None is allowed) of an annotation."""
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        optional = len(args) < len(get_args(tp))
        if len(args) == 1:
            return args[0], optional
        return tp, optional  # a true union (e.g. str | float): parsed leniently below
    return tp, False


def _number_or_text(text: str) -> Any:
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def _scalar_parser(tp: Any) -> Callable[[str], Any]:
    if tp is bool:
        return lambda s: s.lower() in ("1", "true", "yes", "on")
    if tp in (int, float, str):
        return tp
    if tp is Path:
        return Path
    origin = get_origin(tp)
    if origin is Literal:
        kinds = {type(a) for a in get_args(tp)}
        return next(iter(kinds)) if len(kinds) == 1 else _number_or_text
    return _number_or_text  # unions such as str | float (a gate time, a sparsity)


def _type_name(fn: Callable[[str], Any]) -> str:
    return {int: "an integer", float: "a number", str: "text", Path: "a path"}.get(fn, "a value")  # type: ignore[call-overload]


class _Typed:
    """A callable argparse type with a readable name in its error message."""

    def __init__(self, fn: Callable[[str], Any], flag: str) -> None:
        self.fn, self.flag = fn, flag
        self.__name__ = _type_name(fn)

    def __call__(self, text: str) -> Any:
        try:
            return self.fn(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"expected {self.__name__}, got {text!r}") from None


class _Deprecated(argparse.Action):
    """An old spelling: works for one release, with a warning that names the new option."""

    def __init__(self, *args: Any, new: str = "", why: str = "", **kw: Any) -> None:
        self.new, self.why = new, why
        super().__init__(*args, **kw)

    def __call__(
        self, parser: argparse.ArgumentParser, ns: argparse.Namespace, values: Any, option: str | None = None
    ) -> None:
        warnings.warn(
            f"{option} is deprecated and will be removed in the next release: use {self.new}"
            + (f" ({self.why})" if self.why else "")
            + ".",
            FutureWarning,
            stacklevel=2,
        )
        setattr(ns, self.dest, values if values is not None else self.const)


def add_config_options(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    prefix: str = "",
    skip: tuple[str, ...] = (),
    group: Any = None,
) -> None:
    """One option per field of the config dataclass ``cls`` (nested config dataclasses recursively)."""
    hints = typing.get_type_hints(cls)
    optmap: dict[str, str] = getattr(parser, _OPTMAP, {})
    setattr(parser, _OPTMAP, optmap)  # shared with the nested calls
    target = group or parser
    defaults = cls()
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if f.name in skip or not meta.get("cli", True):
            continue
        tp, _ = _resolve(hints[f.name])
        dest = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            sub = parser.add_argument_group(meta.get("help") or tp.__name__)
            add_config_options(parser, tp, prefix=f"{dest}.", skip=skip, group=sub)
            continue
        flag = meta.get("flag") or "--" + f.name.replace("_", "-")
        optmap[dest] = flag
        default = getattr(defaults, f.name)
        shown = "none" if default is None else (" ".join(map(str, default)) if isinstance(default, tuple) else default)
        help_text = (meta.get("help") or "").rstrip(".") + f" (default: {shown})"
        kwargs: dict[str, Any] = {"dest": dest, "default": argparse.SUPPRESS, "help": help_text}
        kwargs["metavar"] = meta.get("metavar") or flag.lstrip("-").upper().replace("-", "_")
        choices = meta.get("choices")
        origin = get_origin(tp)
        if tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
            kwargs.pop("metavar")
        elif origin in (tuple, list):
            inner = [a for a in get_args(tp) if a is not Ellipsis]
            kwargs.update(nargs="+", type=_Typed(_scalar_parser(inner[0] if inner else str), flag))
            if choices is not None:
                kwargs["choices"] = choices
                kwargs.pop("metavar")
        else:
            if origin is Literal and choices is None:
                choices = get_args(tp)
            kwargs["type"] = _Typed(_scalar_parser(tp), flag)
            if choices is not None:
                kwargs["choices"] = choices
                kwargs.pop("metavar")
        target.add_argument(flag, **kwargs)
        for old, why in meta.get("aliases", {}).items():
            alias_kw = {k: v for k, v in kwargs.items() if k not in ("help", "action")}
            if tp is bool:
                alias_kw.update(nargs=0, const=not old.startswith("--no-"))
            target.add_argument(old, action=_Deprecated, new=flag, why=why, help=argparse.SUPPRESS, **alias_kw)


def _given(args: argparse.Namespace, prefix: str) -> dict[str, Any]:
    return {k[len(prefix) :]: v for k, v in vars(args).items() if k.startswith(prefix) and "." not in k[len(prefix) :]}


def config_from_args(
    cls: type, args: argparse.Namespace, parser: argparse.ArgumentParser, prefix: str = "", **fixed: Any
) -> Any:
    """The config dataclass ``cls`` from the options given (nested configs too); a validation error
    becomes a :class:`UsageError` naming the option as typed."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    given = _given(args, prefix)
    for f in dataclasses.fields(cls):
        if f.name in fixed:
            values[f.name] = fixed[f.name]
            continue
        tp, _ = _resolve(hints[f.name])
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            values[f.name] = config_from_args(tp, args, parser, prefix=f"{prefix}{f.name}.")
        elif f.name in given:
            v = given[f.name]
            values[f.name] = tuple(v) if isinstance(v, list) else v
    try:
        return cls(**values)
    except InvalidArgumentError as exc:
        raise usage_error(exc, parser, prefix) from exc


def usage_error(exc: InvalidArgumentError, parser: argparse.ArgumentParser, prefix: str = "") -> UsageError:
    """``exc`` with the config fields it names (in backticks) replaced by the options as typed."""
    optmap: Mapping[str, str] = getattr(parser, _OPTMAP, {})
    flags = {dest.rsplit(".", 1)[-1]: flag for dest, flag in optmap.items()}
    text = re.sub(r"`([A-Za-z_][A-Za-z0-9_]*)`", lambda m: flags.get(m.group(1), m.group(0)), str(exc))
    return UsageError(text)


def common_run_options(p: argparse.ArgumentParser, default_out: str) -> None:
    """--out, --fresh, --no-progress (and --seed) of every command that writes a run folder."""
    p.add_argument("--out", type=Path, default=Path(default_out), help=f"run folder (default: {default_out})")
    p.add_argument(
        "--fresh",
        action="store_true",
        help="start over: discard a previous run's checkpoint in --out instead of resuming it (default: resume)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars (default: shown)")
    debug_option(p)


def debug_option(p: argparse.ArgumentParser) -> None:
    """--debug on a subcommand too (``qnewton table3 ... --debug``)."""
    p.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show the full traceback of an error"
    )


def config_values(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """The parsed options named after fields of the config dataclass ``cls`` that were given (not None);
    list values become tuples (for the commands whose options are written by hand)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        v = getattr(args, f.name, None)
        if v is not None:
            out[f.name] = tuple(v) if isinstance(v, list) else v
    return out
