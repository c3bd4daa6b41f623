"""``@step``: a plain typed function that can also be a node of a pipeline's DAG.

Called outside a pipeline body a step is just its function (so it stays unit-testable); called
while a ``@pipeline`` body is being traced it records a node and returns symbolic handles. The
options (retries, timeout, caching, resources, requirements) travel in the traced
:class:`~treadle.orchestration.StepSpec`.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import textwrap
import typing
from collections.abc import Callable, Sequence
from typing import Any, overload

from treadle.errors import InvalidArgument


def type_name(tp: Any) -> str:
    """A readable name for an annotation: ``int``, ``pandas.DataFrame``, ``list[int]``."""
    if tp is inspect.Parameter.empty:
        return ""
    if isinstance(tp, type) and not typing.get_args(tp):
        module = tp.__module__
        return tp.__qualname__ if module == "builtins" else f"{module.split('.')[0]}.{tp.__qualname__}"
    return str(tp).replace("typing.", "")


def code_digest(fn: Callable[..., Any]) -> str:
    """sha256 of the function's source with indentation removed: the code part of the cache key
    (bytecode is the fallback for functions without source, e.g. typed at a REPL)."""
    try:
        text = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        text = repr((code.co_code, code.co_consts)) if code is not None else repr(fn)
    return hashlib.sha256(text.encode()).hexdigest()


class Step:
    """A step function plus its options; see :func:`step`."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        retries: int = 0,
        retry_delay_s: float = 1.0,
        backoff: float = 2.0,
        timeout_s: float | None = None,
        cache: bool = True,
        cache_version: str | None = None,
        reads_mutable: bool = False,
        resources: dict[str, float] | None = None,
        requirements: Sequence[str] | None = None,
        outputs: Sequence[str] | None = None,
    ) -> None:
        if not callable(fn):
            raise InvalidArgument(f"@step decorates a function, not a {type(fn).__name__}")
        if not isinstance(retries, int) or retries < 0:
            raise InvalidArgument(f"step {fn.__name__!r}: retries must be a whole number >= 0, got {retries!r}")
        if timeout_s is not None and not timeout_s > 0:
            raise InvalidArgument(f"step {fn.__name__!r}: timeout_s must be positive seconds, got {timeout_s!r}")
        if retry_delay_s < 0 or backoff < 1:
            raise InvalidArgument(f"step {fn.__name__!r}: retry_delay_s must be >= 0 and backoff >= 1")
        self.fn = fn
        self.name = name or fn.__name__
        self.retries = retries
        self.retry_delay_s = float(retry_delay_s)
        self.backoff = float(backoff)
        self.timeout_s = None if timeout_s is None else float(timeout_s)
        self.cache = cache
        self.cache_version = cache_version
        self.reads_mutable = reads_mutable
        self.resources = dict(resources or {})
        self.requirements = list(requirements or [])
        self.signature = inspect.signature(fn)
        try:
            self.hints = typing.get_type_hints(fn)
        except Exception:  # unresolvable forward references: fall back to no type checks
            self.hints = {}
        self.outputs = self._output_names(outputs)
        self.code_digest = code_digest(fn)
        self._pickled: bytes | None = None
        functools.update_wrapper(self, fn)

    def _output_names(self, outputs: Sequence[str] | None) -> list[str]:
        ret = self.hints.get("return")
        tuple_args = typing.get_args(ret) if typing.get_origin(ret) is tuple else ()
        if outputs is not None:
            names = [outputs] if isinstance(outputs, str) else list(outputs)
            if not names or len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
                raise InvalidArgument(f"step {self.name!r}: outputs must be distinct non-empty names, got {outputs!r}")
            if tuple_args and Ellipsis not in tuple_args and len(tuple_args) != len(names):
                raise InvalidArgument(
                    f"step {self.name!r} names {len(names)} outputs but its return annotation has {len(tuple_args)}"
                )
            return names
        if tuple_args and Ellipsis not in tuple_args:
            return [f"output_{i}" for i in range(len(tuple_args))]
        return ["output"]

    def output_types(self) -> dict[str, Any]:
        """Output name -> its annotation (when the return annotation says)."""
        ret = self.hints.get("return", inspect.Parameter.empty)
        if len(self.outputs) == 1:
            return {self.outputs[0]: ret}
        args = typing.get_args(ret) if typing.get_origin(ret) is tuple else ()
        if len(args) == len(self.outputs):
            return dict(zip(self.outputs, args, strict=True))
        return {name: inspect.Parameter.empty for name in self.outputs}

    def pickled(self) -> bytes:
        """The undecorated function, cloudpickled once (what executors ship)."""
        if self._pickled is None:
            import cloudpickle

            from treadle.pipelines._task_run import remember_function

            self._pickled = cloudpickle.dumps(self.fn)
            remember_function(self._pickled, self.fn)
        return self._pickled

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from treadle.pipelines._trace import current_tracer

        tracer = current_tracer()
        if tracer is None:
            return self.fn(*args, **kwargs)
        return tracer.call(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<Step {self.name}>"


@overload
def step(fn: Callable[..., Any], /) -> Step: ...


@overload
def step(
    fn: None = None,
    /,
    *,
    retries: int = 0,
    retry_delay_s: float = 1.0,
    backoff: float = 2.0,
    timeout_s: float | None = None,
    timeout: float | None = None,
    cache: bool = True,
    cache_version: str | None = None,
    reads_mutable: bool = False,
    resources: dict[str, float] | None = None,
    requirements: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
    name: str | None = None,
) -> Callable[[Callable[..., Any]], Step]: ...


def step(fn: Callable[..., Any] | None = None, /, **options: Any) -> Step | Callable[[Callable[..., Any]], Step]:
    """Make a typed function a pipeline step: ``@step`` or ``@step(retries=2, timeout_s=60, ...)``.

    ``retries``/``retry_delay_s``/``backoff``: re-run a failing step after delay * backoff**(n-1)
    seconds. ``timeout_s`` (or ``timeout``): fail (and cancel) an attempt that runs longer. ``cache``: reuse the
    outputs of an earlier run with the same code, inputs and ``cache_version``; ``reads_mutable``:
    the step reads data that can change under it (a table, a URL), so it is never cached.
    ``resources``: ``{"cpus": 2, "gpus": 1, "memory_mb": 4096}`` for the Ray executor;
    ``requirements``: pip requirements the step runs with (a cached virtualenv, process executor).
    ``outputs``: names of several outputs (the function returns a tuple of that length).
    """
    if "timeout" in options:  # the short spelling
        if options.get("timeout_s") is not None:
            raise InvalidArgument("@step takes timeout or timeout_s, not both")
        options["timeout_s"] = options.pop("timeout")
    if fn is not None:
        return Step(fn, **options)
    return lambda f: Step(f, **options)
