"""The step cache key: what must be equal for a step's earlier outputs to be reused.

key = sha256(step code digest + cache_version + canonical JSON of its constant/parameter values
+ the content digests of its inputs). Inputs are compared by content, so an upstream step that
re-ran and produced the same bytes still lets this one hit the cache. A step with ``cache=False``
or ``reads_mutable=True`` has no key at all: it always runs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from treadle.orchestration._records import OutputRef, StepSpec


def cache_key(step: StepSpec, values: dict[str, Any], inputs: dict[str, OutputRef]) -> str | None:
    if not step.cache or step.reads_mutable:
        return None
    body = {
        "code": step.code_digest,
        "version": step.cache_version,
        "values": values,
        "inputs": {arg: [ref.kind, ref.digest, ref.uri] for arg, ref in sorted(inputs.items())},
        "outputs": list(step.outputs),
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).hexdigest()
