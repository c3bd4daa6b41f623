"""Server-rendered web UI (Jinja2 + htmx + uPlot, vendored under ``static/``)."""

from treadle.ui._pages import STATIC_DIR, ui_router

__all__ = ["STATIC_DIR", "ui_router"]
