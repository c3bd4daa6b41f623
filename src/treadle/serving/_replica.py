"""One worker process as the server sees it: its process, its pipe, and the threads that keep the event
loop off that pipe.

The event loop never blocks on a pipe: it sends small requests itself (they always fit the pipe's
buffer, and the hot path skips a thread hop), a writer thread sends big ones, and a reader thread
receives and unpickles each reply and hands it to the loop with ``call_soon_threadsafe``. When the
worker dies its end of the pipe closes, the reader sees EOF, and ``on_exit`` runs on the loop.
What the pool does with messages and deaths lives in :mod:`treadle.serving._pool`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext
from multiprocessing.process import BaseProcess
from typing import Any, Literal

from treadle.serving._worker import dumps, worker_main

log = logging.getLogger(__name__)

State = Literal["starting", "ready", "draining", "dead"]
Message = tuple[Any, ...]

DIRECT_LIMIT = 16 * 1024  # bytes of tensors the event loop may send itself
DIRECT_UNREAD = 8  # ... while at most this many requests of this worker are unanswered


def small(message: Message) -> bool:
    """Whether ``message`` is small enough for the event loop to send without risk of blocking."""
    if message[0] != "run":
        return True
    arrays = message[2].values()
    return all(a.dtype != object for a in arrays) and sum(a.nbytes for a in arrays) <= DIRECT_LIMIT


@dataclass(eq=False)
class Replica:
    """A started worker process. ``inflight`` maps call ids to the pool's calls, in the order sent."""

    number: int
    process: BaseProcess
    conn: Connection
    loop: asyncio.AbstractEventLoop
    on_message: Callable[[Replica, Message], None]
    on_exit: Callable[[Replica], None]
    ready: asyncio.Future[None]
    state: State = "starting"
    inflight: dict[int, Any] = field(default_factory=dict)
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    outbox: queue.SimpleQueue[Message | None] = field(default_factory=queue.SimpleQueue)
    queued: int = 0  # messages in ``outbox`` not yet sent (counted on the loop thread)
    reader: threading.Thread | None = None

    @classmethod
    async def spawn(
        cls,
        ctx: SpawnContext,
        model_dir: str,
        number: int,
        on_message: Callable[[Replica, Message], None],
        on_exit: Callable[[Replica], None],
    ) -> Replica:
        """Start a worker for ``model_dir``; ``ready`` resolves once it has loaded and warmed the model."""
        loop = asyncio.get_running_loop()
        parent, child = ctx.Pipe(duplex=True)
        process = ctx.Process(target=worker_main, args=(child, model_dir), name=f"treadle-worker-{number}", daemon=True)
        await asyncio.to_thread(process.start)  # spawn writes the preparation data: keep it off the loop
        child.close()  # only the worker holds its end now, so its death reads as EOF here
        replica = cls(number, process, parent, loop, on_message, on_exit, loop.create_future())
        replica.ready.add_done_callback(lambda f: f.exception() if not f.cancelled() else None)
        replica.reader = threading.Thread(target=replica._read, name=f"{process.name}-reader", daemon=True)
        replica.reader.start()
        threading.Thread(target=replica._write, name=f"{process.name}-writer", daemon=True).start()
        return replica

    @property
    def name(self) -> str:
        return self.process.name

    def send(self, message: Message) -> None:
        """Send from the loop thread. Sent directly only while the writer has nothing queued (order is
        kept) and few requests are unread (so the pipe's buffer cannot fill); else via the writer."""
        if self.queued == 0 and len(self.inflight) <= DIRECT_UNREAD and small(message):
            try:
                self.conn.send_bytes(dumps(message))
            except OSError:
                pass  # the worker died: the reader reports it
            except Exception as exc:  # an input that cannot be pickled fails alone
                self.on_message(self, _unsendable(message, exc))
            return
        self.queued += 1
        self.outbox.put(message)

    def close(self) -> None:
        """After the worker's exit: end the writer thread and close our end of the pipe."""
        self.outbox.put(None)
        self.conn.close()

    def _sent(self) -> None:
        self.queued -= 1

    def _write(self) -> None:
        while (message := self.outbox.get()) is not None:
            try:
                self.conn.send_bytes(dumps(message))
            except OSError:
                return  # the reader sees EOF and reports the death
            except Exception as exc:
                self._call_soon(self.on_message, self, _unsendable(message, exc))
            finally:
                self._call_soon(self._sent)

    def _read(self) -> None:
        while True:
            try:
                message = pickle.loads(self.conn.recv_bytes())
            except (EOFError, OSError):
                break
            except Exception as exc:  # a reply we cannot read: treat the worker as broken
                log.error("unreadable reply from %s: %s", self.name, exc)
                break
            self._call_soon(self.on_message, self, message)
        self.process.join(timeout=5)
        self._call_soon(self.on_exit, self)

    def _call_soon(self, fn: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed under us: nobody is waiting
            self.loop.call_soon_threadsafe(fn, *args)


def _unsendable(message: Message, exc: Exception) -> Message:
    return ("err", message[1], "InvalidArgument", f"cannot send the input to the model worker: {exc}")
