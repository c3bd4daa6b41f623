"""The inference server: registered models over the Open Inference Protocol and MLflow's ``/invocations``.

``treadle serve models:/churn@champion`` (or :func:`serve`) resolves the model through the registry,
loads it on an executor (threads in the server, worker processes, or Ray Serve replicas), and
answers KServe V2 / Triton clients (JSON and binary tensors) and MLflow callers. Build an app in
code with :func:`serving_app` or, from endpoints, :func:`create_serving_app`.
"""

from treadle.serving._app import create_serving_app
from treadle.serving._export_kserve import export_kserve
from treadle.serving._export_triton import export_triton
from treadle.serving._graph import GraphEndpoint, graph_endpoints
from treadle.serving._graph_spec import GraphSpec
from treadle.serving._inline import InlineExecutor
from treadle.serving._metrics import ServingMetrics
from treadle.serving._model import ModelEndpoint
from treadle.serving._reqlog import RequestLogger, read_request_log, request_log_dataset
from treadle.serving._runner import ModelRunner
from treadle.serving._server import read_serving_file, serve, serving_app
from treadle.serving._types import (
    Endpoint,
    Executor,
    InferRequest,
    InferResult,
    LogRecord,
    RequestSink,
    Tensors,
)

__all__ = [
    "Endpoint",
    "Executor",
    "GraphEndpoint",
    "GraphSpec",
    "InferRequest",
    "InferResult",
    "InlineExecutor",
    "LogRecord",
    "ModelEndpoint",
    "ModelRunner",
    "RequestLogger",
    "RequestSink",
    "ServingMetrics",
    "Tensors",
    "create_serving_app",
    "export_kserve",
    "export_triton",
    "graph_endpoints",
    "read_request_log",
    "read_serving_file",
    "request_log_dataset",
    "serve",
    "serving_app",
]
