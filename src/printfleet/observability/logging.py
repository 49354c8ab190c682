"""structlog set-up: console lines for people, JSON lines for collectors, UTC ISO 8601 timestamps.

One handler on the root logger renders every record, structlog's own events and the standard library's alike
(uvicorn, alembic, discord.py, asyncio, SQLAlchemy, ``warnings``), through structlog's ``ProcessorFormatter``. With
``json_format`` each record is one JSON object on one line, a traceback included (in its ``exception`` field).
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

_SECRET_KEYS = frozenset({"access_code", "password", "api_key", "token", "authorization"})
_QUIET = ("httpx", "httpcore", "uvicorn.access", "aiosqlite", "asyncio")
"""Libraries logged at WARNING and above only, whatever the level (their INFO and DEBUG lines are per request)."""


def _drop_secrets(_logger: object, _method: str, event_dict: structlog.typing.EventDict) -> structlog.typing.EventDict:
    """Last line of defence: a secret passed as a log field by mistake is masked."""
    for key in _SECRET_KEYS.intersection(event_dict):
        event_dict[key] = "**********"
    return event_dict


class _Handler(logging.StreamHandler[TextIO]):
    """The handler :func:`configure_logging` installs (told apart from others when it is called again)."""


_OWN_HANDLERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
"""Loggers whose own handlers (from uvicorn's default logging config) would bypass the root handler."""


def configure_logging(*, level: str = "INFO", json_format: bool = False, stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging to ``stream`` (default: stderr) at ``level`` (DEBUG … ERROR).

    Replaces the root logger's handlers with one that renders every record as a console line or, with
    ``json_format``, as one JSON object per line (keys ``event``, ``level``, ``logger``, ``timestamp``, the
    event's fields, and ``exception`` with the whole traceback). Safe to call again (the last call wins).
    """
    numeric = logging.getLevelName(level)
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_secrets,
    ]
    final: list[structlog.typing.Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if json_format:
        final += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        # A plain traceback: rich's, with every frame's locals, could print a secret held in a local variable, and
        # rendering one for a deep SQLAlchemy error took seconds on the event loop's thread.
        final.append(structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback))
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    handler = _Handler(stream if stream is not None else sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=final))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    # warnings.warn() lines through the same handler, not straight to stderr. Off first: captureWarnings(True) does
    # nothing when it was on already, even if something (a test harness) has since replaced warnings.showwarning.
    logging.captureWarnings(False)
    logging.captureWarnings(True)
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    for name in _OWN_HANDLERS:
        # uvicorn's default logging config (applied by any uvicorn.Config made with it, earlier in the process)
        # gives these loggers their own plain-text handlers and stops propagation; route them to ours instead.
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True
        library.disabled = False
