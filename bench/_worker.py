"""The worker side of bench/_common.py's line protocol; stdlib only, so both venvs can import it.

A worker script is run as ``python _<bench>_<side>.py DATA.npz URI``. It reads one JSON request a line
from stdin (``{"op": ..., "args": ..., "out": path}``), calls ``worker.<op>(**args)``, writes the
answer as JSON to ``out`` and then prints ``DONE`` on stdout, until stdin closes.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def serve(worker: Any) -> None:
    for line in sys.stdin:
        request = json.loads(line)
        result = getattr(worker, request["op"])(**request["args"])
        with open(request["out"], "w") as f:
            json.dump(result, f)
        print("DONE", flush=True)
