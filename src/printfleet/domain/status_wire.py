"""A printer's status as plain JSON values and back: the form in which the process of a farm that owns a printer's
connection hands its status to the others (docs/farm.md, "Printer ownership").

:func:`status_to_wire` writes a :class:`~printfleet.domain.printer.PrinterStatus`, with its AMS trays, material
slots and spools, as a dict of JSON values: enums by value, datetimes as ISO 8601 with offset, tuples as lists;
fields at their default value are left out, so an idle printer's status is a few dozen bytes. :func:`status_from_wire`
reads it back into the same status (equal field for field, including the fields ``==`` ignores). The mapping is
driven by the dataclasses' own type hints, so a field added to the status travels without a change here.

Pure: no I/O. A malformed or foreign value raises ValueError naming the field.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any

from printfleet.domain.printer import PrinterStatus


def status_to_wire(status: PrinterStatus) -> dict[str, Any]:
    """``status`` as a dict of JSON values (see the module's description)."""
    wire = _dump(status)
    assert isinstance(wire, dict)
    return wire


def status_from_wire(wire: Mapping[str, Any]) -> PrinterStatus:
    """The status :func:`status_to_wire` wrote. Raises ValueError when ``wire`` is not one (a missing ``state``, a
    value of the wrong type, an unknown enum value)."""
    status = _load(PrinterStatus, wire, "status")
    assert isinstance(status, PrinterStatus)
    return status


def _dump(value: Any) -> Any:
    if value is None or (isinstance(value, bool | int | float | str) and not isinstance(value, Enum)):
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for field in dataclasses.fields(value):
            item = getattr(value, field.name)
            if not _is_default(field, item):
                out[field.name] = _dump(item)
        return out
    if isinstance(value, tuple | list):
        return [_dump(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _dump(item) for key, item in value.items()}
    raise TypeError(f"{type(value).__name__} has no wire form")


def _is_default(field: dataclasses.Field[Any], value: Any) -> bool:
    if field.default is not dataclasses.MISSING:
        return bool(value == field.default and type(value) is type(field.default))
    if field.default_factory is not dataclasses.MISSING:
        return bool(value == field.default_factory())
    return False


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _load(kind: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [option for option in typing.get_args(kind) if option is not type(None)]
        if value is None and len(options) < len(typing.get_args(kind)):
            return None
        if len(options) == 1:  # ``X | None``: X's own refusal says more
            return _load(options[0], value, where)
        for option in options:
            try:
                return _load(option, value, where)
            except ValueError:
                continue
        raise ValueError(f"{where}: {value!r} fits none of {kind}")
    if origin is tuple:
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list, got {type(value).__name__}")
        args = typing.get_args(kind)
        item = args[0] if args else Any
        return tuple(_load(item, element, f"{where}[{n}]") for n, element in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
        _, item = typing.get_args(kind)
        return {str(key): _load(item, element, f"{where}.{key}") for key, element in value.items()}
    if kind is Any:
        return value
    if isinstance(kind, type) and issubclass(kind, Enum):
        try:
            return kind(value)
        except ValueError:
            raise ValueError(f"{where}: {value!r} is not a {kind.__name__}") from None
    if kind is datetime:
        if not isinstance(value, str):
            raise ValueError(f"{where}: expected an ISO 8601 time, got {type(value).__name__}")
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError(f"{where}: {value!r} has no UTC offset")
        return moment
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where}: expected a number, got {type(value).__name__}")
        return float(value)
    if kind in (int, str, bool):
        if type(value) is not kind:
            raise ValueError(f"{where}: expected {kind.__name__}, got {type(value).__name__}")
        return value
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
        hints = _hints(kind)
        known = {field.name for field in dataclasses.fields(kind)}
        unknown = set(value) - known
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        values = {name: _load(hints[name], item, f"{where}.{name}") for name, item in value.items()}
        try:
            return kind(**values)
        except TypeError as error:  # a required field missing
            raise ValueError(f"{where}: {error}") from None
    raise ValueError(f"{where}: no wire form for {kind!r}")
