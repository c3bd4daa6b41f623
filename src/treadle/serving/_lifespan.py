"""Starting and stopping what an inference server serves, so that no worker process outlives it.

Endpoints start concurrently. If one fails, the others are cancelled and everything that did start
is stopped before the error is raised: an endpoint cancelled in the middle of its start stops its
own half-started executor (see :meth:`ModelEndpoint.start`), so a failed startup leaves no worker
processes behind. At shutdown the background jobs are cancelled first, then every endpoint is
drained and stopped (one that fails to stop is logged and does not spare the others) and the
request sink is closed, flushing what it holds; all of it shielded from cancellation.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread

from treadle.serving._http import guarded
from treadle.serving._types import Endpoint, RequestSink

log = logging.getLogger("treadle.serving")

Job = Callable[[], Awaitable[None]]


def serving_lifespan(
    endpoints: list[Endpoint], sink: RequestSink | None, background: list[Job] | None
) -> Callable[[Any], contextlib.AbstractAsyncContextManager[None]]:
    """A Starlette ``lifespan``: start ``endpoints``, run ``background`` beside the server, stop all."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        try:
            async with anyio.create_task_group() as starting:
                for endpoint in endpoints:
                    starting.start_soon(endpoint.start)
        except BaseException as exc:  # stop what did start, then fail as the first failure did
            with anyio.CancelScope(shield=True):
                await shutdown(endpoints, sink)
            first = exc
            while isinstance(first, BaseExceptionGroup):
                first = first.exceptions[0]
            raise first from None
        try:
            async with anyio.create_task_group() as tasks:
                for job in background or []:
                    tasks.start_soon(guarded, job)
                try:
                    yield
                finally:
                    tasks.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await shutdown(endpoints, sink)

    return lifespan


async def shutdown(endpoints: list[Endpoint], sink: RequestSink | None) -> None:
    """Stop (drain) every endpoint and close the sink; one that fails to stop does not spare the others."""
    for endpoint in endpoints:
        try:
            await endpoint.stop()
        except Exception:
            log.exception("stopping %s failed", endpoint.name)
    close = getattr(sink, "close", None)
    if callable(close):
        try:
            await anyio.to_thread.run_sync(close)
        except Exception:
            log.exception("closing the request log failed")
