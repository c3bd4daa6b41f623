"""A fork server for the process executor: one clean interpreter that imported treadle once and forks a
fresh child per step (importing treadle takes seconds; a fork takes milliseconds).

Why not ``multiprocessing``'s forkserver: it re-imports the driver's ``__main__`` in every child, so
a script that calls ``flow.run()`` at top level (no ``if __name__ == "__main__"`` guard) would run
again in each step. This server knows nothing of the driver's main module.

Protocol, one JSON object per line. Driver -> server (stdin): ``{"id", "task", "outcome", "log",
"cwd", "paths", "env"}``. Server -> driver (stdout): ``{"id", "pid"}`` once forked, ``{"id", "exit"}``
when reaped (negative: killed by that signal). The server is single-threaded (forking from a
threaded process is unsafe); EOF on stdin (the driver is gone) kills every child and exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import traceback
from dataclasses import dataclass, field
from typing import IO, Any

PRELOAD = ("cloudpickle", "treadle.pipelines._child", "treadle.pipelines._task_run", "treadle.client")
LOST = 1000  # exit "code" of a child whose fork server died: it is gone too (it exits when orphaned)


# ---------------------------------------------------------------------------------------------- server
def _child(request: dict[str, Any]) -> None:
    """In the forked process: run the step, never return into the server loop."""
    code = 0
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        from treadle.pipelines._child import forked

        forked(request["task"], request["outcome"], request["log"], request["cwd"], request["paths"], request["env"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        code = 1
        traceback.print_exc()  # into the step's log: the driver quotes its tail
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def _warm_up() -> None:
    """Open a throwaway SQLite backend once, so the lazy imports and caches the first Client pays
    for (dialects, schemas) are inherited by every child instead of paid by each."""
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="treadle-forkserver-")
    try:
        from treadle.client import Client
        from treadle.client._backend import reset_backends

        Client(f"sqlite:///{folder}/warm.db", f"{folder}/artifacts").tracking  # noqa: B018 - opens the store
        reset_backends()  # children must not inherit its connections
    except Exception:  # only a speed-up
        pass
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def serve() -> None:
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            __import__(name)
    _warm_up()
    if threading.active_count() > 1:  # forking a threaded process is unsafe: children exec instead
        sys.exit(f"treadle's fork server has {threading.active_count()} threads after its imports")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the driver; its exit closes our stdin
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    children: dict[int, int] = {}  # pid -> request id
    sel = selectors.DefaultSelector()
    sel.register(0, selectors.EVENT_READ)
    sel.register(wake_r, selectors.EVENT_READ)
    pending = b""

    def send(message: dict[str, Any]) -> None:
        os.write(1, (json.dumps(message) + "\n").encode())

    send({"ready": True})
    while True:
        for key, _ in sel.select():
            if key.fd == wake_r:
                os.read(wake_r, 4096)
                continue
            data = os.read(0, 1 << 16)
            if not data:  # the driver is gone
                for pid in children:
                    _killpg(pid)
                return
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _child(request)
                children[pid] = request["id"]
                send({"id": request["id"], "pid": pid})
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid in children:
                send({"id": children.pop(pid), "exit": os.waitstatus_to_exitcode(status)})


def _killpg(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
            return
        except (ProcessLookupError, PermissionError):
            continue


# ---------------------------------------------------------------------------------------------- driver
@dataclass
class Forked:
    """A step process forked by the server, with Popen's ``pid`` and ``wait()``."""

    id: int
    server: Any = None
    pid: int = 0
    code: int | None = None
    started: threading.Event = field(default_factory=threading.Event)
    exited: threading.Event = field(default_factory=threading.Event)

    def wait(self) -> int:
        self.exited.wait()
        return LOST if self.code is None else self.code


class ForkServer:
    """The driver's handle on one server process (started on first use, restarted if it died)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the pending table and (re)starting the server
        self._write = threading.Lock()  # requests to the server's stdin, one whole line at a time
        self._proc: subprocess.Popen[str] | None = None
        self._pending: dict[int, Forked] = {}
        self._next = 0

    def _ensure(self, env: dict[str, str]) -> subprocess.Popen[str]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        proc = subprocess.Popen(
            [sys.executable, "-m", "treadle.pipelines._forkserver"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            bufsize=1,
        )
        assert proc.stdout is not None
        if not proc.stdout.readline():
            raise RuntimeError(f"treadle's fork server did not start (exit {proc.wait()})")
        threading.Thread(target=self._read, args=(proc, proc.stdout), name="treadle-forkserver", daemon=True).start()
        self._proc = proc
        return proc

    def _read(self, proc: subprocess.Popen[str], stdout: IO[str]) -> None:
        for line in stdout:
            message = json.loads(line)
            with self._lock:
                job = self._pending.get(message["id"])
                if job is None:
                    continue
                if "pid" in message:
                    job.pid = message["pid"]
                    job.started.set()
                    continue
                job.code = message["exit"]
                del self._pending[job.id]
            job.exited.set()
        with self._lock:  # the server died; its children exit when they see themselves orphaned
            lost = [j for j in self._pending.values() if j.server is proc]
            for job in lost:
                del self._pending[job.id]
        for job in lost:
            job.started.set()
            job.exited.set()

    def fork(self, server_env: dict[str, str], request: dict[str, Any]) -> Forked:
        with self._lock:
            proc = self._ensure(server_env)
            self._next += 1
            job = Forked(self._next, server=proc)
            self._pending[job.id] = job
        assert proc.stdin is not None
        with self._write:
            proc.stdin.write(json.dumps({**request, "id": job.id}) + "\n")
            proc.stdin.flush()
        job.started.wait()
        return job


_SERVER = ForkServer()


def fork_step(server_env: dict[str, str], request: dict[str, Any]) -> Forked:
    return _SERVER.fork(server_env, request)


if __name__ == "__main__":
    serve()
