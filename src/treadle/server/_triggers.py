"""``POST /pipelines/{name}/trigger``: the token-protected webhook that queues a pipeline run.

The body is a JSON object of the run's parameters (empty for none). The token created with
``treadle pipelines schedule NAME --webhook`` travels in ``Authorization: Bearer <token>`` or
``X-Treadle-Token``; a caller that retries may send ``Idempotency-Key`` so a retry queues nothing new.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse

from treadle.orchestration import ScheduleService


def _token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return request.headers.get("x-treadle-token") or None


def trigger_router(schedules: ScheduleService) -> APIRouter:
    router = APIRouter(tags=["pipelines"])

    # A plain ``def``: FastAPI runs it on a worker thread, so the database calls never block the loop.
    @router.post("/pipelines/{name}/trigger", status_code=202)
    def trigger(name: str, request: Request, params: Annotated[dict[str, Any] | None, Body()] = None) -> JSONResponse:
        """Queue a run of pipeline ``name`` (202 with its id); 401 without the webhook token, 403 with a wrong one."""
        schedule = schedules.verify_webhook(name, _token(request))
        key = request.headers.get("idempotency-key") or uuid.uuid4().hex
        info = {"client": request.client.host if request.client else None}
        # A key too long for a fire key goes in hashed: cutting it would make two keys one (a lost trigger).
        fire_key = f"webhook:{key}" if len(key) <= 200 else f"webhook:sha256:{hashlib.sha256(key.encode()).hexdigest()}"
        run = schedules.fire(schedule.id, fire_key, params or {}, info)
        if run is None:
            return JSONResponse({"pipeline": name, "duplicate": True, "idempotency_key": key}, status_code=200)
        body = {"pipeline": name, "pipeline_run_id": run.id, "status": run.status, "schedule_id": schedule.id}
        return JSONResponse(body, status_code=202)

    return router
