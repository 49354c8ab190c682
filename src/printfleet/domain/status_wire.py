"""A printer's status as plain JSON values and back: the form in which the process of a farm that owns a printer's
connection hands its status to the others (docs/farm.md, "Printer ownership").

:func:`status_to_wire` writes a :class:`~printfleet.domain.printer.PrinterStatus`, with its AMS trays, material
slots and spools, as a dict of JSON values: enums by value, datetimes as ISO 8601 with offset, tuples as lists;
fields at their default value are left out, so an idle printer's status is a few dozen bytes. :func:`status_from_wire`
reads it back into the same status (equal field for field, including the fields ``==`` ignores). The mapping is
driven by the dataclasses' own type hints, so a field added to the status travels without a change here: each type's
reader and writer is worked out once from its hints and kept (a farm of 1,000 printers shares a status of each every
second, and reads each back in every other process: about 20 µs a way for an X1C with a full AMS).

Pure: no I/O. A malformed or foreign value raises ValueError naming the field.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
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
    value of the wrong type, an unknown enum value), naming the field (``status.ams_trays[0]``)."""
    try:
        status = _reader(PrinterStatus)(wire)
    except _Refused as refused:
        raise ValueError(f"status{''.join(reversed(refused.path))}: {refused.problem}") from None
    assert isinstance(status, PrinterStatus)
    return status


# -- writing -----------------------------------------------------------------------------------------------------

_SCALARS = (type(None), bool, int, float, str)


def _dump(value: Any) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return value
    writer = _WRITERS.get(kind)
    if writer is None:
        writer = _WRITERS[kind] = _writer(kind)
    return writer(value)


_WRITERS: dict[type, Callable[[Any], Any]] = {}


def _writer(kind: type) -> Callable[[Any], Any]:
    """How a value of ``kind`` (not a plain JSON scalar) is written (kept in ``_WRITERS``)."""
    if issubclass(kind, Enum):
        return _enum_value
    if issubclass(kind, bool | int | float | str):  # a subclass of a scalar that is no enum
        return lambda value: value
    if kind is datetime:
        return _isoformat
    if dataclasses.is_dataclass(kind):
        return _dataclass_writer(kind)
    if issubclass(kind, tuple | list):
        return lambda value: [_dump(item) for item in value]
    if issubclass(kind, dict):
        return lambda value: {str(key): _dump(item) for key, item in value.items()}

    def refuse(value: Any) -> Any:
        raise TypeError(f"{kind.__name__} has no wire form")

    return refuse


def _enum_value(value: Enum) -> Any:
    return value.value


def _isoformat(value: datetime) -> str:
    return value.isoformat()


_NO_DEFAULT = object()


def _dataclass_writer(kind: type) -> Callable[[Any], dict[str, Any]]:
    """Write the fields that are not at their default (a default made by a factory is made once, here)."""
    plan: list[tuple[str, Any, bool]] = []  # (name, default, whether the default's type must match too)
    for field in dataclasses.fields(kind):
        if field.default is not dataclasses.MISSING:
            plan.append((field.name, field.default, True))
        elif field.default_factory is not dataclasses.MISSING:
            plan.append((field.name, field.default_factory(), False))
        else:
            plan.append((field.name, _NO_DEFAULT, False))

    def write(value: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, default, typed in plan:
            item = getattr(value, name)
            if default is not _NO_DEFAULT and item == default and (not typed or type(item) is type(default)):
                continue
            out[name] = item if type(item) in _SCALARS else _dump(item)
        return out

    return write


# -- reading -----------------------------------------------------------------------------------------------------


class _Refused(ValueError):
    """A value that does not fit; ``path`` is where, innermost first (``[0]``, ``.ams_trays``)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[str] = []

    def at(self, step: str) -> _Refused:
        self.path.append(step)
        return self


Reader = Callable[[Any], Any]


@cache
def _reader(kind: Any) -> Reader:
    """How a wire value of type ``kind`` (a type hint) is read back; the reader raises _Refused."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return _union_reader(kind)
    if origin is tuple:
        args = typing.get_args(kind)
        return _tuple_reader(_reader(args[0] if args else Any))
    if origin is dict:
        return _dict_reader(_reader(typing.get_args(kind)[1]))
    if kind is Any:
        return lambda value: value
    if isinstance(kind, type) and issubclass(kind, Enum):
        return _enum_reader(kind)
    if kind is datetime:
        return _read_datetime
    if kind is float:
        return _read_float
    if kind in (int, str, bool):
        return _exact_reader(kind)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return _dataclass_reader(kind)
    raise _Refused(f"no wire form for {kind!r}")


def _union_reader(kind: Any) -> Reader:
    options = [option for option in typing.get_args(kind) if option is not type(None)]
    optional = len(options) < len(typing.get_args(kind))
    readers = [_reader(option) for option in options]
    if len(readers) == 1:  # ``X | None``: X's own refusal says more
        (only,) = readers
        return (lambda value: None if value is None else only(value)) if optional else only

    def read(value: Any) -> Any:
        if value is None and optional:
            return None
        for reader in readers:
            try:
                return reader(value)
            except _Refused:
                continue
        raise _Refused(f"{value!r} fits none of {kind}")

    return read


def _tuple_reader(item: Reader) -> Reader:
    def read(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise _Refused(f"expected a list, got {type(value).__name__}")
        out = []
        for n, element in enumerate(value):
            try:
                out.append(item(element))
            except _Refused as refused:
                raise refused.at(f"[{n}]") from None
        return tuple(out)

    return read


def _dict_reader(item: Reader) -> Reader:
    def read(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _Refused(f"expected an object, got {type(value).__name__}")
        out = {}
        for key, element in value.items():
            try:
                out[str(key)] = item(element)
            except _Refused as refused:
                raise refused.at(f".{key}") from None
        return out

    return read


def _enum_reader(kind: type[Enum]) -> Reader:
    def read(value: Any) -> Enum:
        try:
            return kind(value)
        except ValueError:
            raise _Refused(f"{value!r} is not a {kind.__name__}") from None

    return read


def _read_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise _Refused(f"expected an ISO 8601 time, got {type(value).__name__}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise _Refused(str(error)) from None
    if moment.tzinfo is None:
        raise _Refused(f"{value!r} has no UTC offset")
    return moment


def _read_float(value: Any) -> float:
    kind = type(value)
    if kind is float:
        return value  # type: ignore[no-any-return]
    if kind is int:
        return float(value)
    raise _Refused(f"expected a number, got {kind.__name__}")


def _exact_reader(kind: type) -> Reader:
    def read(value: Any) -> Any:
        if type(value) is not kind:
            raise _Refused(f"expected {kind.__name__}, got {type(value).__name__}")
        return value

    return read


def _dataclass_reader(kind: type) -> Reader:
    hints = typing.get_type_hints(kind)
    fields: dict[str, Reader | None] = {field.name: None for field in dataclasses.fields(kind)}

    def read(value: Any) -> Any:
        if not isinstance(value, dict):
            raise _Refused(f"expected an object, got {type(value).__name__}")
        values = {}
        for name, item in value.items():
            try:
                reader = fields[name]
            except KeyError:
                unknown = sorted(set(value) - set(fields))
                raise _Refused(f"unknown field(s) {', '.join(unknown)}") from None
            if reader is None:  # worked out on first use: a dataclass may refer to one defined after it
                reader = fields[name] = _reader(hints[name])
            try:
                values[name] = reader(item)
            except _Refused as refused:
                raise refused.at(f".{name}") from None
        try:
            return kind(**values)
        except TypeError as error:  # a required field missing
            raise _Refused(str(error)) from None

    return read
