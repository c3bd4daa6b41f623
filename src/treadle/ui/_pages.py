"""UI routes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

STATIC_DIR = Path(__file__).parent / "static"


def ui_router(backend: Any) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    def index() -> str:
        exps = backend.tracking.list_experiments()
        return "<h1>treadle</h1><ul>" + "".join(f"<li>{e.name}</li>" for e in exps) + "</ul>"

    return router
