"""What ``Pipeline.run`` returns (:class:`PipelineResult`) or raises (:class:`PipelineFailed`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from treadle.errors import InvalidArgument, TreadleError
from treadle.orchestration._records import PipelineRunDetail, StepRun
from treadle.pipelines._materialize import load_output

if TYPE_CHECKING:
    from treadle.client import Client


class PipelineResult:
    """A finished pipeline run: status, step runs, and the outputs (loaded from the artifact store
    on access, so a large DataFrame is read only when asked for)."""

    def __init__(self, client: Client, detail: PipelineRunDetail) -> None:
        self._client = client
        self.detail = detail
        self.run = detail.run
        self.spec = detail.spec
        self.id = detail.run.id
        self.status = detail.run.status
        self.run_id = detail.run.run_id
        self.error = detail.run.error
        self.steps: dict[str, StepRun] = {s.step: s for s in detail.steps}

    def __getitem__(self, step: str) -> Any:
        """The output of ``step``: its value, or a tuple for a step with several outputs."""
        run = self.steps.get(step)
        if run is None:
            raise InvalidArgument(f"pipeline {self.spec.name!r} has no step {step!r} (steps: {', '.join(self.steps)})")
        spec = next(s for s in self.spec.steps if s.name == step)
        if run.status not in ("SUCCEEDED", "CACHED"):
            raise InvalidArgument(
                f"step {step!r} is {run.status}: it has no outputs" + (f" ({run.error})" if run.error else "")
            )
        values = tuple(load_output(self._client, run.outputs[name]) for name in spec.outputs)
        return values[0] if len(values) == 1 else values

    @property
    def output(self) -> Any:
        """The pipeline body's return value with every step output loaded."""
        return self._resolve(self.spec.output)

    def _resolve(self, template: Any) -> Any:
        if isinstance(template, dict):
            if set(template) == {"$ref"}:
                step, _, name = template["$ref"].partition(".")
                run = self.steps[step]
                if name not in run.outputs:
                    raise InvalidArgument(f"step {step!r} is {run.status}: output {name!r} is not available")
                return load_output(self._client, run.outputs[name])
            if set(template) == {"$param"}:
                return self.run.params.get(template["$param"])
            return {k: self._resolve(v) for k, v in template.items()}
        if isinstance(template, list):
            return [self._resolve(v) for v in template]
        return template

    @property
    def failed_steps(self) -> dict[str, str]:
        return {name: run.error or "" for name, run in self.steps.items() if run.status == "FAILED"}

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for run in self.steps.values():
            counts[run.status] = counts.get(run.status, 0) + 1
        summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        return f"<PipelineResult {self.spec.name} {self.id} {self.status}: {summary}>"


class PipelineFailed(TreadleError):
    """A pipeline run ended FAILED or CANCELLED; ``.result`` has its steps and the outputs that exist."""

    code = "PIPELINE_FAILED"
    status = 500

    def __init__(self, result: PipelineResult) -> None:
        failed = "; ".join(f"step {k!r}: {v}" for k, v in result.failed_steps.items())
        super().__init__(
            f"pipeline {result.spec.name!r} run {result.id} {result.status}"
            + (f": {failed}" if failed else (f": {result.error}" if result.error else ""))
            + f"; resume it with `treadle pipelines run --resume {result.id}` or Pipeline.resume({result.id!r})"
        )
        self.result = result
