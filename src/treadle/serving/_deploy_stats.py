"""Per-variant traffic counts a deployment endpoint keeps between flushes to the rollout service.

Requests are counted in the server process (a lock and a few integer adds per request) and sent as
*deltas* once a second with ``record_traffic``, which adds them atomically in the store, so any number
of servers and worker processes can serve one deployment. A flush that fails puts its deltas back
(:meth:`TrafficCounter.restore`): counts are delayed by a store outage, never lost.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from treadle.rollout import N_BUCKETS, VariantTraffic, bucket_index


@dataclass
class _Counts:
    requests: int = 0
    errors: int = 0
    buckets: list[int] = field(default_factory=list)
    shadow_requests: int = 0
    shadow_disagreements: int = 0

    def add(self, other: _Counts) -> None:
        self.requests += other.requests
        self.errors += other.errors
        if len(self.buckets) < len(other.buckets):
            self.buckets.extend([0] * (len(other.buckets) - len(self.buckets)))
        for i, n in enumerate(other.buckets):
            self.buckets[i] += n
        self.shadow_requests += other.shadow_requests
        self.shadow_disagreements += other.shadow_disagreements


class TrafficCounter:
    """Counts since the last flush, keyed by (deployment revision, variant). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[int, str], _Counts] = {}

    def _slot(self, revision: int, variant: str) -> _Counts:
        counts = self._counts.get((revision, variant))
        if counts is None:
            counts = self._counts[(revision, variant)] = _Counts(buckets=[0] * N_BUCKETS)
        return counts

    def request(self, revision: int, variant: str, latency_ms: float, error: bool) -> None:
        index = bucket_index(latency_ms)
        with self._lock:
            counts = self._slot(revision, variant)
            counts.requests += 1
            counts.errors += int(error)
            counts.buckets[index] += 1

    def shadow(self, revision: int, variant: str, agreed: bool) -> None:
        """One mirrored request compared against ``variant``'s answer."""
        with self._lock:
            counts = self._slot(revision, variant)
            counts.shadow_requests += 1
            counts.shadow_disagreements += int(not agreed)

    @property
    def pending(self) -> bool:
        with self._lock:
            return bool(self._counts)

    def take(self) -> dict[int, list[VariantTraffic]]:
        """Everything counted since the last take, per revision; the counter starts again from zero."""
        with self._lock:
            taken, self._counts = self._counts, {}
        out: dict[int, list[VariantTraffic]] = {}
        for (revision, variant), c in sorted(taken.items()):
            out.setdefault(revision, []).append(
                VariantTraffic(
                    variant=variant,
                    requests=c.requests,
                    errors=c.errors,
                    latency_ms_buckets=list(c.buckets),
                    shadow_requests=c.shadow_requests,
                    shadow_disagreements=c.shadow_disagreements,
                )
            )
        return out

    def restore(self, revision: int, traffic: list[VariantTraffic]) -> None:
        """Put back deltas whose flush failed, so the next flush sends them again."""
        with self._lock:
            for t in traffic:
                self._slot(revision, t.variant).add(
                    _Counts(
                        requests=t.requests,
                        errors=t.errors,
                        buckets=list(t.latency_ms_buckets),
                        shadow_requests=t.shadow_requests,
                        shadow_disagreements=t.shadow_disagreements,
                    )
                )
