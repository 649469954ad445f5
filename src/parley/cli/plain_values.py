"""Command-line values of the plain kinds (text, texts, a path, a number's default) converted without pydantic.

Typer converts each parameter's value through a pydantic ``TypeAdapter`` that it builds the first time
the parameter is processed, given or not. Importing pydantic and building the adapters is about 0.1 s,
a fifth of a read command such as ``parley status`` (``docs/performance.md``). Texts and paths, nearly
every parameter parley has, need none of it: ``plain_values`` gives them a conversion of their own that
does what typer's adapter does for them (a text stays the text; a path goes through typer's own checks,
``coerce_cli_path``, as a ``Path``; a number's default within its bounds stays as it is). Every other
value keeps typer's conversion, built only when such a value comes: a number typed, a date, a choice
convert exactly as before.

With a typer that does not convert this way (no ``_TyperParameter.type_descriptor``), nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from typer import core as typer_core

try:  # typer >= 0.2x: conversion by runtime parameters (pydantic adapters)
    from typer._coercion import RuntimeParam, build_runtime_param
    from typer._param_types import coerce_cli_path, routes_to_path
except ImportError:  # pragma: no cover - an older typer converts with click types: nothing to do
    RuntimeParam = None  # type: ignore[assignment,misc]

_TyperParameter = getattr(typer_core, "_TyperParameter", None)
_PATH_TYPES = (Path, type(Path()))


if RuntimeParam is not None:

    @dataclass(frozen=True)
    class _Deferred(RuntimeParam):  # type: ignore[misc,valid-type]
        """Typer's own conversion of this parameter, built when a value is given (``coerce`` answers a
        missing value, None or an empty tuple, without it). Texts and paths are converted here."""

        descriptor: Any = None
        own: list[Any] = field(default_factory=list, compare=False)  # typer's conversion, once built

        def _coerce_value(self, value: Any, param: Any, ctx: typer.Context) -> Any:
            plain = _plain(self.annotation, self.parameter_info, value, param, ctx)
            if plain is not _NOT_PLAIN:
                return plain
            if not self.own:
                self.own.append(build_runtime_param(self.descriptor))
            return self.own[0]._coerce_value(value, param=param, ctx=ctx)

_NOT_PLAIN = object()


def _plain(annotation: Any, info: Any, value: Any, param: Any, ctx: typer.Context) -> Any:
    """The converted value when it is of a plain kind, else ``_NOT_PLAIN`` (typer's conversion applies)."""
    if info.parser is not None:
        return _NOT_PLAIN
    if annotation is str and isinstance(value, str):
        return value  # typer: str(value) for a text, then pydantic's str check, which a str passes
    if annotation == list[str] and isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)  # typer: a list of the texts
    if (annotation in (int, float) and type(value) is annotation and (info.min is None or value >= info.min)
            and (info.max is None or value <= info.max)):
        return value  # a default already of its kind, within bounds: typer's check returns it as it is
    if (annotation in _PATH_TYPES and info.path_type is None and routes_to_path(annotation, info)
            and isinstance(value, str) and value):
        # typer turns the text into a Path with pydantic (``Path(value)``), then checks it: the same checks
        return coerce_cli_path(annotation(value), info, path_type=annotation, param=param, ctx=ctx)
    return _NOT_PLAIN


def plain_values(command: Any) -> Any:
    """``command`` (a click command or group, with every command under it) converting its plain values
    without pydantic, its other values with typer's conversion built when first needed. Returns it."""
    if RuntimeParam is None or _TyperParameter is None:
        return command
    # ``--help`` is an option too, made (once per command) when a command line is parsed: made now
    context = command.context_class(command, **(command.context_settings or {}))
    help_option = command.get_help_option(context)
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        descriptor = getattr(param, "type_descriptor", None)
        if (isinstance(param, _TyperParameter) and descriptor is not None
                and getattr(param, "_runtime_param", "absent") is None and descriptor.file_annotation is None):
            param._runtime_param = _Deferred(parameter_info=descriptor.parameter_info,
                                             annotation=descriptor.annotation, descriptor=descriptor)
    for sub in getattr(command, "commands", {}).values():
        plain_values(sub)
    return command


__all__ = ["plain_values"]
