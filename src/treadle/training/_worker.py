"""What runs inside each training worker process, before and after the user's code.

The launcher hands every worker the same small environment (``TREADLE_URI``, ``TREADLE_ARTIFACTS``,
``TREADLE_RUN_ID``); with ``TREADLE_RUN_ID`` set, the fluent API attaches to that run instead of
creating one, and prefixes non-zero ranks' keys with ``rank{r}/`` (see ``treadle.client._fluent``).
``TREADLE_RANK`` pins the rank the fluent API uses (torch sets ``RANK``; Ray Train its context).

Workers must flush before they return: multiprocessing children leave through ``os._exit`` and
skip ``atexit``, so queued metric points would otherwise be lost.

``python -m treadle.training._worker ENV_JSON SCRIPT [ARGS...]`` runs a script as a worker; its
uncaught exception is written to torch elastic's error file (``@record``) so the launcher can
report the rank's traceback.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from typing import Any

RANK_ENV = "TREADLE_RANK"


def enter(env: dict[str, str], rank: int) -> None:
    """Point this process's fluent API at the launch's store and run, as ``rank``."""
    from treadle.client import _fluent

    os.environ.update(env)
    os.environ[RANK_ENV] = str(rank)
    _fluent.set_uri(env.get("TREADLE_URI"), env.get("TREADLE_ARTIFACTS"))


def leave() -> None:
    """Flush this worker's queued points and detach from the launch's run (it stays RUNNING)."""
    from treadle.client import _fluent

    while _fluent.active_run() is not None:
        _fluent.end_run()
    _fluent.flush()


def call(payload: bytes) -> Any:
    """Entry point of a function launch under torch elastic: unpickle ``(fn, args, kwargs, env)`` and call."""
    import cloudpickle

    fn, args, kwargs, env = cloudpickle.loads(payload)
    enter(env, int(os.environ.get("RANK", "0")))
    try:
        return fn(*args, **kwargs)
    finally:
        leave()


def run_script(script: str, args: list[str]) -> None:
    """Run ``script`` as ``__main__`` with ``args`` as its command line, then flush."""
    sys.argv = [script, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        leave()


def main() -> None:
    from torch.distributed.elastic.multiprocessing.errors import record

    env = json.loads(sys.argv[1])
    enter(env, int(os.environ.get("RANK", "0")))
    record(run_script)(sys.argv[2], sys.argv[3:])


if __name__ == "__main__":
    main()
