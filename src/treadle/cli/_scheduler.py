"""``treadle scheduler``: the pipeline scheduler loop without the HTTP server."""

from __future__ import annotations
