"""``@pipeline``: a function whose body composes steps into a static DAG.

``flow.spec`` traces the body once with symbolic parameters (no step runs) and is what the CLI,
UI and scheduler see; ``flow.run(**params)`` validates and runs it; ``flow.resume(id)`` finishes
a failed run from its failed steps.
"""

from __future__ import annotations

import inspect
import os
import sys
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, overload

from treadle.errors import InvalidArgument
from treadle.names import check_name
from treadle.orchestration._records import ParamSpec, PipelineSpec
from treadle.pipelines._step import Step, type_name
from treadle.pipelines._trace import ParamRef, Tracer, current_tracer, is_json, output_template

if TYPE_CHECKING:
    from treadle.client import Client
    from treadle.pipelines._result import PipelineResult
    from treadle.pipelines.base import Executor


def _origin(fn: Callable[..., Any]) -> tuple[str | None, str | None]:
    """Where to import the pipeline from again (``source``) and the sys.path entry it needs."""
    module = sys.modules.get(fn.__module__)
    path = getattr(module, "__file__", None)
    if "<locals>" in fn.__qualname__:
        return None, None
    if fn.__module__ == "__main__" or module is None:
        if not path:
            return None, None
        return f"{os.path.abspath(path)}:{fn.__qualname__}", os.path.dirname(os.path.abspath(path))
    workdir = None
    if path:
        root = os.path.dirname(os.path.abspath(path))
        depth = fn.__module__.count(".") + (1 if os.path.basename(path) == "__init__.py" else 0)
        for _ in range(depth):
            root = os.path.dirname(root)
        workdir = root
    return f"{fn.__module__}:{fn.__qualname__}", workdir


class Pipeline:
    """A traced DAG of steps; see :func:`pipeline`."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        executor: str = "inprocess",
        experiment: str | None = None,
    ) -> None:
        self.fn = fn
        self.name = check_name(name or fn.__name__, "pipeline")
        self.executor = executor
        self.experiment = experiment
        self.source, self.workdir = _origin(fn)
        self._spec: PipelineSpec | None = None
        self._steps: dict[str, Step] = {}
        self.__doc__ = fn.__doc__

    def _trace(self) -> None:
        signature = inspect.signature(self.fn)
        try:
            hints: dict[str, Any] = typing.get_type_hints(self.fn)
        except Exception:
            hints = {}
        params: list[ParamSpec] = []
        symbols: dict[str, ParamRef] = {}
        for arg, p in signature.parameters.items():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise InvalidArgument(f"pipeline {self.name!r}: *args/**kwargs cannot be parameters; name each one")
            annotation = hints.get(arg, inspect.Parameter.empty)
            required = p.default is inspect.Parameter.empty
            if not required and not is_json(p.default):
                raise InvalidArgument(
                    f"parameter {arg!r} of pipeline {self.name!r} defaults to a {type(p.default).__name__}: "
                    "defaults must be JSON values"
                )
            params.append(
                ParamSpec(
                    name=arg,
                    type=type_name(annotation) or None,
                    default=None if required else p.default,
                    required=required,
                )
            )
            symbols[arg] = ParamRef(arg, annotation)
        with Tracer(self.name) as tracer:
            returned = self.fn(**symbols)
        self._steps = dict(tracer.objects)
        self._spec = PipelineSpec(
            name=self.name,
            steps=tracer.steps,
            params=params,
            output=output_template(returned, self.name),
            source=self.source,
            workdir=self.workdir,
            doc=inspect.getdoc(self.fn),
        )

    @property
    def spec(self) -> PipelineSpec:
        """The static DAG (traced on first access)."""
        if self._spec is None:
            self._trace()
        assert self._spec is not None
        return self._spec

    @property
    def steps(self) -> dict[str, Step]:
        """Step name in the spec -> the :class:`Step` it runs."""
        if self._spec is None:
            self._trace()
        return self._steps

    def run(
        self,
        *,
        executor: str | Executor | None = None,
        max_parallel: int | None = None,
        raise_on_failure: bool = True,
        client: Client | None = None,
        **params: Any,
    ) -> PipelineResult:
        """Run the pipeline with ``params`` and wait for it; raises :class:`PipelineFailed` if it fails
        (unless ``raise_on_failure=False``). ``executor``: "inprocess" (default), "process", "ray"."""
        from treadle.pipelines._engine_run import start

        return start(
            self, params, executor=executor, max_parallel=max_parallel, raise_on_failure=raise_on_failure, client=client
        )

    def resume(
        self,
        pipeline_run_id: str,
        *,
        executor: str | Executor | None = None,
        max_parallel: int | None = None,
        raise_on_failure: bool = True,
        client: Client | None = None,
    ) -> PipelineResult:
        """Finish a FAILED or CANCELLED run: its SUCCEEDED and CACHED steps are kept, the rest run."""
        from treadle.pipelines._engine_run import resume

        return resume(
            self,
            pipeline_run_id,
            executor=executor,
            max_parallel=max_parallel,
            raise_on_failure=raise_on_failure,
            client=client,
        )

    def __call__(self, **params: Any) -> PipelineResult:

        if current_tracer() is not None:
            raise InvalidArgument(
                f"pipeline {self.name!r} was called inside another pipeline's body: compose steps, "
                "or trigger it after this one (`treadle pipelines schedule --after`)"
            )
        return self.run(**params)

    def __repr__(self) -> str:
        return f"<Pipeline {self.name}>"


@overload
def pipeline(fn: Callable[..., Any], /) -> Pipeline: ...


@overload
def pipeline(
    fn: None = None, /, *, name: str | None = None, executor: str = "inprocess", experiment: str | None = None
) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(
    fn: Callable[..., Any] | None = None, /, **options: Any
) -> Pipeline | Callable[[Callable[..., Any]], Pipeline]:
    """Make a function composing ``@step`` calls a pipeline: ``@pipeline`` or
    ``@pipeline(name=, executor="process", experiment="training")``. Its parameters are the
    pipeline's parameters; its body must be static (no ``if``/loops on step outputs or parameters)."""
    if fn is not None:
        return Pipeline(fn, **options)
    return lambda f: Pipeline(f, **options)
