"""Server-rendered web UI (Jinja2 + htmx + uPlot, vendored under ``static/``).

Pages read everything through the backend's services (``backend.tracking``, ``backend.artifacts``,
``backend.blobs``); ``treadle.server`` mounts :func:`ui_router` and serves :data:`STATIC_DIR` at
``/static``.
"""

from treadle.ui._download import file_response
from treadle.ui._pages import STATIC_DIR, ui_router

__all__ = ["STATIC_DIR", "file_response", "ui_router"]
