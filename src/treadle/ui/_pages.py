"""The UI router: every page and the chart JSON, over one backend's services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter

from treadle.ui._api import api_router
from treadle.ui._compare import compare_router
from treadle.ui._dataset_version import dataset_version_router
from treadle.ui._datasets import datasets_router
from treadle.ui._deployments import deployments_router
from treadle.ui._evaluations import evaluations_router
from treadle.ui._experiments import experiments_router
from treadle.ui._feature_view import feature_view_router
from treadle.ui._features import features_router
from treadle.ui._model_version import version_router
from treadle.ui._models import models_router
from treadle.ui._monitors import monitors_router
from treadle.ui._pipelines import pipelines_router
from treadle.ui._render import STATIC_DIR
from treadle.ui._runs import runs_router
from treadle.ui._studies import studies_router

if TYPE_CHECKING:
    from treadle.client._backend import Backend

__all__ = ["STATIC_DIR", "ui_router"]


def ui_router(backend: Backend) -> APIRouter:
    """Pages at ``/``, ``/experiments/{id}``, ``/runs/{id}``, ``/compare``, ``/models[/{name}[/versions/{n}]]``;
    chart data under ``/ui/api``."""
    router = APIRouter(include_in_schema=False)
    routers = (experiments_router, runs_router, compare_router, models_router, version_router, api_router)
    for sub in (*routers, datasets_router, dataset_version_router):  # datasets: /{name}/diff before /{name}/{version}
        router.include_router(sub(backend))
    router.include_router(features_router(backend))  # /features, /features/entities/{name}
    router.include_router(feature_view_router(backend))  # /features/views/{name}
    router.include_router(deployments_router(backend))  # /deployments[/{name}]
    router.include_router(pipelines_router(backend))  # /pipelines[/{name}], /pipelines/runs/{id}
    router.include_router(studies_router(backend))  # /studies[/{name}]
    router.include_router(evaluations_router(backend))  # /evaluations[/compare|/{run_id}], /models/{name}/history
    router.include_router(monitors_router(backend))  # /monitors[/{name}[/columns/{column}]]
    return router
