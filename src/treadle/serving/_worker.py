"""The body of one replica process: load the model once, warm it, answer predictions over a pipe.

Runs in a process started by :class:`~treadle.serving._pool.ProcessPoolExecutor` with the
multiprocessing ``spawn`` context (the server has threads, and forking a threaded process can
deadlock the child), so everything here is importable and its arguments are picklable.

Wire format: every message is ``pickle.dumps(tuple, protocol=5)`` sent with ``send_bytes`` (protocol
5 keeps numpy buffers as single copies). Server → worker: ``("run", id, inputs, outputs)`` and
``("stop",)``. Worker → server: ``("ready", pid, metadata)`` once warm, ``("failed", class, message)`` when the
model cannot be loaded, then ``("ok", id, outputs)`` or ``("err", id, class, message)`` per request.
Errors cross the pipe as a class name and message (:func:`error_parts`), never as pickled exception
objects, so a model raising an unpicklable exception cannot break the protocol; the server re-raises
the same treadle error (:func:`rebuild_error`; anything that is not a treadle error becomes ModelError).
Ray replicas (:mod:`treadle.serving._ray`) answer errors the same way.
"""

from __future__ import annotations

import os
import pickle
import signal
import traceback
from multiprocessing.connection import Connection
from typing import Any

from treadle import errors
from treadle.errors import ModelError, TreadleError

PROTOCOL = 5


def dumps(message: tuple[Any, ...]) -> bytes:
    return pickle.dumps(message, protocol=PROTOCOL)


def error_parts(exc: BaseException) -> tuple[str, str]:
    """An error as ``(treadle error class name, message)``, to cross a process (pipe or Ray) boundary."""
    if isinstance(exc, TreadleError):
        return type(exc).__name__, str(exc)
    return "ModelError", f"the model raised {type(exc).__name__}: {exc}"


def rebuild_error(name: str, message: str) -> TreadleError:
    """The treadle error :func:`error_parts` described (a name that is no treadle error: ModelError)."""
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, TreadleError):
        return cls(message)
    return ModelError(message)


def worker_main(conn: Connection, model_dir: str) -> None:
    """Serve one model until told to stop or the server's end of the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the server, which drains us first
    try:
        from treadle.serving._runner import ModelRunner

        runner = ModelRunner(model_dir)
        runner.warm()
    except BaseException as exc:  # report why, then exit: the pool decides whether to retry
        name, message = error_parts(exc)
        if name == "ModelError":
            message = f"could not load the model in {model_dir}: {message}\n{traceback.format_exc(limit=5)}"
        _send(conn, ("failed", name, message))
        conn.close()
        return
    try:
        metadata = runner.metadata()
    except Exception:  # metadata is a courtesy; serving does not depend on it
        metadata = {}
    _send(conn, ("ready", os.getpid(), metadata))
    while True:
        try:
            message = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):  # the server went away: nothing left to answer
            return
        if message[0] == "stop":
            conn.close()
            return
        _, call_id, inputs, outputs = message
        try:
            result = runner.run(inputs, outputs)
        except BaseException as exc:
            name, text = error_parts(exc)
            reply: tuple[Any, ...] = ("err", call_id, name, text)
        else:
            reply = ("ok", call_id, result)
        if not _send(conn, reply):
            return


def _send(conn: Connection, message: tuple[Any, ...]) -> bool:
    try:
        data = dumps(message)
    except Exception as exc:  # an output that cannot be pickled is the model's fault, not the pipe's
        if message[0] != "ok":
            raise
        data = dumps(("err", message[1], "ModelError", f"the model returned an unpicklable output: {exc}"))
    try:
        conn.send_bytes(data)
    except (BrokenPipeError, OSError):
        return False
    return True
