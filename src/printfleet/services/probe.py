"""A throw-away printer connection for a "test connection" button: connect once, return the first real answer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from printfleet.domain.printer import OfflineReason, PrinterState, PrinterStatus
from printfleet.services.ports import PrinterConnection, StatusCallback


async def first_answer(
    connect: Callable[[StatusCallback], PrinterConnection],
    *,
    name: str,
    timeout: float,  # noqa: ASYNC109 - expiry is an answer, not an error
) -> PrinterStatus:
    """Run ``connect(sink)``'s connection until its first real answer and return it.

    The connection reports to a local sink only: nothing is tracked, persisted, published or counted in the
    connected gauge, and a watched printer with the same id is not touched. The answer is the first status that is
    not ``offline``/``connecting``: a live state (``idle``, ``printing``, ...) or ``offline`` with the adapter's
    reason (``unreachable``, ``auth_failed``, ``tls_failed``, ``timeout``, ``protocol_error``,
    ``not_operational``). With none within ``timeout`` seconds, ``offline``/``timeout``; should the adapter stop
    without one (a bug), ``offline``/``protocol_error``. The connection task (named ``probe:<name>``) is cancelled
    and awaited before this returns or raises, also when the caller is cancelled.

    Raises ValueError when ``timeout`` is not positive or the adapter refuses the configuration (call
    ``config.problems()`` first).
    """
    if not timeout > 0:
        raise ValueError(f"timeout must be positive, not {timeout!r}")
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[PrinterStatus] = loop.create_future()

    async def sink(_printer_id: str, status: PrinterStatus) -> None:
        connecting = status.state is PrinterState.OFFLINE and status.offline_reason is OfflineReason.CONNECTING
        if not connecting and not answer.done():
            answer.set_result(status)

    connection = connect(sink)
    task = loop.create_task(connection.run(), name=f"probe:{name}")
    try:
        await asyncio.wait((answer, task), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        task.cancel()
        await asyncio.wait((task,))
    if answer.done():
        return answer.result()
    if not task.cancelled():  # run() ended by itself, which it never should
        failure = task.exception()
        what = type(failure).__name__ if failure is not None else "returned"
        return PrinterStatus.offline(OfflineReason.PROTOCOL_ERROR, detail=f"the connection ended early ({what})")
    return PrinterStatus.offline(OfflineReason.TIMEOUT, detail=f"no answer within {timeout:g} s")
