"""What a run records about where it ran: git state, entry point, Python, packages, host,
the notebook it ran in, and (optionally) system metrics sampled in the background."""

from __future__ import annotations

import contextlib
import functools
import getpass
import importlib.metadata
import json
import os
import platform
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _git(*args: str, cwd: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def entry_point() -> str | None:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return os.path.abspath(path) if path else None


def notebook_path() -> str | None:
    """The running notebook's file, when inside Jupyter (JupyterLab/Notebook 7 or VS Code)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or "IPKernelApp" not in getattr(shell, "config", {}):
        return None
    vscode = shell.user_ns.get("__vsc_ipynb_file__")
    candidate = vscode or os.environ.get("JPY_SESSION_NAME")
    return str(candidate) if candidate and Path(candidate).is_file() else None


@functools.cache
def requirements() -> str:
    """``pip freeze`` of the running interpreter, without spawning pip."""
    pins = {
        f"{d.metadata['Name']}=={d.version}"
        for d in importlib.metadata.distributions()
        if d.metadata and d.metadata["Name"]
    }
    return "\n".join(sorted(pins, key=str.lower)) + "\n"


def capture() -> tuple[dict[str, str], dict[str, bytes]]:
    """Tags and artifact files (path -> bytes) describing the current process."""
    tags: dict[str, str] = {
        "treadle.python": platform.python_version(),
        "treadle.host": socket.gethostname(),
        "treadle.platform": platform.platform(terse=True),
    }
    files: dict[str, bytes] = {"_treadle/requirements.txt": requirements().encode()}
    with contextlib.suppress(Exception):
        tags["treadle.user"] = getpass.getuser()
    notebook = notebook_path()
    source = notebook or entry_point()
    if source:
        tags["treadle.source"] = source
    if notebook:
        tags["treadle.notebook"] = notebook
        files["_treadle/notebook.ipynb"] = Path(notebook).read_bytes()
    cwd = str(Path(source).parent) if source else os.getcwd()
    commit = _git("rev-parse", "HEAD", cwd=cwd)
    if commit:
        tags["treadle.git.commit"] = commit
        tags["treadle.git.branch"] = _git("rev-parse", "--abbrev-ref", "HEAD", cwd=cwd) or ""
        remote = _git("config", "--get", "remote.origin.url", cwd=cwd)
        if remote:
            tags["treadle.git.remote"] = remote
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no", cwd=cwd))
        tags["treadle.git.dirty"] = str(dirty).lower()
        if dirty:
            diff = _git("diff", "HEAD", cwd=cwd)
            if diff:
                files["_treadle/git.diff"] = diff.encode()
    files["_treadle/environment.json"] = json.dumps(
        {"python": sys.version, "executable": sys.executable, "argv": sys.argv, "cwd": os.getcwd()}, indent=2
    ).encode()
    return tags, files


class SystemMetrics:
    """Samples CPU, memory and (with nvidia-ml-py) GPU use every ``interval_s`` into metrics."""

    def __init__(self, log: Callable[[str, float, int], Any], interval_s: float) -> None:
        self._log = log
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="treadle-system-metrics", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        gpus = _gpu_handles()
        process = psutil.Process()
        psutil.cpu_percent(None)
        step = 0
        while not self._stop.wait(self._interval):
            self._sample(psutil, process, gpus, step)
            step += 1
        if step == 0:  # a run shorter than the interval still gets one sample
            self._sample(psutil, process, gpus, step)

    def _sample(self, psutil: Any, process: Any, gpus: list[tuple[Any, Any]], step: int) -> None:
        mem = psutil.virtual_memory()
        self._log("system/cpu_percent", psutil.cpu_percent(None), step)
        self._log("system/memory_percent", mem.percent, step)
        self._log("system/process_rss_mb", process.memory_info().rss / 2**20, step)
        for i, (nvml, handle) in enumerate(gpus):
            util = nvml.nvmlDeviceGetUtilizationRates(handle)
            info = nvml.nvmlDeviceGetMemoryInfo(handle)
            self._log(f"system/gpu{i}/utilization_percent", float(util.gpu), step)
            self._log(f"system/gpu{i}/memory_used_mb", info.used / 2**20, step)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _gpu_handles() -> list[tuple[Any, Any]]:
    try:
        import pynvml  # from nvidia-ml-py (the `gpu` extra)

        pynvml.nvmlInit()
        return [(pynvml, pynvml.nvmlDeviceGetHandleByIndex(i)) for i in range(pynvml.nvmlDeviceGetCount())]
    except Exception:
        return []
