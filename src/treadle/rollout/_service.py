"""The rollout service: deployments with revisions, traffic and feedback counters, statistics,
and the automation that rolls a canary back or promotes a winner by moving a registry alias.

Serving processes call ``record_traffic`` about once a second with per-variant deltas,
``record_feedback`` for each delayed reward, ``bandit_state`` to refresh their arms, and
``evaluate`` from a controller loop. ``evaluate`` acts only if the revision it was asked about is
still the current one (compare-and-set inside one write transaction), so any number of serving
processes may run the controller and exactly one of them acts.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from treadle.artifacts import record_files
from treadle.errors import InvalidArgument, NotFound
from treadle.events import emit
from treadle.ops import Service, operation
from treadle.rollout import _automation as auto
from treadle.rollout import _stats as st
from treadle.rollout import _store as s
from treadle.rollout import _tables as t
from treadle.rollout._records import (
    MAX_DELTA,
    ArmState,
    Deployment,
    DeploymentStats,
    Evaluation,
    Feedback,
    LogPart,
    VariantTraffic,
)
from treadle.rollout._spec import DeploymentSpec, Variant
from treadle.rollout._summary import arm_states, summarise
from treadle.store import Store, dialect_insert, now_ms

AUTOMATION_ACTOR = "treadle-rollout"
MAX_LIST = 10_000
MAX_REWARD = 1e12  # its square still sums safely in a double


class RolloutService(Service):
    """Deployments, their traffic statistics and their promotion or rollback (module docstring)."""

    capability: ClassVar[str] = "rollout"

    def __init__(self, store: Store, registry: Any) -> None:
        self._store = store
        self._registry = registry  # a local RegistryService: alias moves join our transactions

    # ------------------------------------------------------------------ deployments
    @operation
    def apply_deployment(self, spec: DeploymentSpec, actor: str | None = None, reason: str | None = None) -> Deployment:
        """Create a deployment or give it a new revision; applying the current spec again changes nothing."""
        try:
            return self._apply(spec, actor, reason)
        except IntegrityError:  # two first applies of the same name raced: the loser retries once
            return self._apply(spec, actor, reason)

    def _apply(self, spec: DeploymentSpec, actor: str | None, reason: str | None) -> Deployment:
        with self._store.write() as conn:
            now = now_ms()
            conn.execute(
                dialect_insert(conn, t.deployments)
                .values(name=spec.name, revision=0, created_at=now, updated_at=now)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            dep = s.deployment_row(conn, spec.name, lock=True)
            if dep.revision > 0:
                current = s.revision_row(conn, dep)
                if current.digest == s.spec_digest(spec) and current.status == "active":
                    return s.to_record(spec.name, current)
            row = s.insert_revision(conn, dep.id, dep.revision + 1, spec, "active", reason, actor)
            emit(conn, "deployment_applied", f"deployment:{spec.name}", name=spec.name, revision=row.revision)
            return s.to_record(spec.name, row)

    @operation
    def get_deployment(self, name: str, revision: int | None = None) -> Deployment:
        """The current revision of a deployment, or the given one."""
        with self._store.read() as conn:
            dep = s.deployment_row(conn, name)
            return s.to_record(name, s.revision_row(conn, dep, revision))

    @operation
    def list_deployments(self) -> list[Deployment]:
        """The current revision of every deployment, by name."""
        d, r = t.deployments, t.revisions
        query = (
            select(d.c.name, r)
            .join(r, (r.c.deployment_id == d.c.id) & (r.c.revision == d.c.revision))
            .order_by(d.c.name)
            .limit(MAX_LIST)
        )
        with self._store.read() as conn:
            return [s.to_record(row.name, row) for row in conn.execute(query)]

    @operation
    def deployment_history(self, name: str) -> list[Deployment]:
        """Every revision of a deployment, newest first (applies, promotions, rollbacks, with reasons)."""
        r = t.revisions
        with self._store.read() as conn:
            dep = s.deployment_row(conn, name)
            rows = conn.execute(select(r).where(r.c.deployment_id == dep.id).order_by(r.c.revision.desc()))
            return [s.to_record(name, row) for row in rows]

    @operation
    def delete_deployment(self, name: str) -> None:
        """Delete a deployment with its revisions, counters and feedback."""
        with self._store.write() as conn:
            dep = s.deployment_row(conn, name, lock=True)
            conn.execute(delete(t.deployments).where(t.deployments.c.id == dep.id))
            emit(conn, "deployment_deleted", f"deployment:{name}", name=name)

    # ------------------------------------------------------------------ traffic and feedback
    @operation
    def record_traffic(self, name: str, revision: int, traffic: list[VariantTraffic]) -> None:
        """Add per-variant deltas (requests, errors, latency buckets, shadow counts) atomically."""
        deltas: dict[tuple[str, str], tuple[int, float]] = {}

        def add(variant: str, metric: str, n: int) -> None:
            old = deltas.get((variant, metric), (0, 0.0))
            deltas[(variant, metric)] = (old[0] + n, 0.0)

        for item in traffic:
            if len(item.latency_ms_buckets) > st.N_BUCKETS or any(
                not 0 <= c <= MAX_DELTA for c in item.latency_ms_buckets
            ):
                raise InvalidArgument(
                    f"latency_ms_buckets of {item.variant!r} must hold at most {st.N_BUCKETS} counts >= 0 "
                    "(one per treadle.rollout.LATENCY_BUCKETS_MS bound, then +inf)"
                )
            add(item.variant, "requests", item.requests)
            add(item.variant, "errors", item.errors)
            add(item.variant, "shadow_requests", item.shadow_requests)
            add(item.variant, "shadow_disagreements", item.shadow_disagreements)
            for i, count in enumerate(item.latency_ms_buckets):
                add(item.variant, f"lat_{i}", count)
        with self._store.write() as conn:
            dep = s.deployment_row(conn, name)
            spec = s.to_record(name, s.revision_row(conn, dep, revision)).spec
            _check_variants(spec, {item.variant for item in traffic}, name, revision)
            s.add_counters(conn, dep.id, revision, deltas)

    @operation
    def record_feedback(self, decision_id: str, reward: float) -> Feedback:
        """Record the reward of one decision, once: a second reward for the same decision id is not
        counted and comes back with ``accepted=False``. The id must name an existing deployment, one
        of its revisions and a variant of that revision (else NotFound / InvalidArgument); the reward
        must be finite, and 0 or 1 when the deployment is a bandit with binary rewards."""
        name, revision, variant = s.parse_decision_id(decision_id)
        if not math.isfinite(reward) or abs(reward) > MAX_REWARD:
            raise InvalidArgument(f"reward must be a finite number within ±{MAX_REWARD:g}, got {reward!r}")
        with self._store.write() as conn:
            dep = s.deployment_row(conn, name)
            spec = s.to_record(name, s.revision_row(conn, dep, revision)).spec
            _check_variants(spec, {variant}, name, revision)
            if spec.bandit is not None and spec.bandit.reward == "binary" and reward not in (0.0, 1.0):
                raise InvalidArgument(
                    f"deployment {name!r} is a bandit with binary rewards: send 0 or 1, got {reward!r} "
                    "(declare `reward: continuous` in its spec for other values)"
                )
            inserted = conn.execute(
                dialect_insert(conn, t.feedback)
                .values(
                    decision_id=decision_id,
                    deployment_id=dep.id,
                    revision=revision,
                    variant=variant,
                    reward=reward,
                    at=now_ms(),
                )
                .on_conflict_do_nothing(index_elements=["decision_id"])
                .returning(t.feedback.c.decision_id)  # no row back: a duplicate (rowcount is not portable)
            ).first()
            if inserted is not None:
                s.add_counters(
                    conn, dep.id, revision, {(variant, "reward"): (1, reward), (variant, "reward_sq"): (1, reward**2)}
                )
        return Feedback(
            decision_id=decision_id,
            deployment=name,
            revision=revision,
            variant=variant,
            reward=reward,
            accepted=inserted is not None,
        )

    # ------------------------------------------------------------------ statistics
    @operation
    def get_stats(self, name: str, revision: int | None = None) -> DeploymentStats:
        """Per-variant counts, latencies, reward means with 95% intervals, P(best), always-valid
        p-values vs the control, the sample-ratio-mismatch check and guardrail breaches."""
        with self._store.read() as conn:
            dep = s.deployment_row(conn, name)
            row = s.revision_row(conn, dep, revision)
            counters = s.read_counters(conn, dep.id, row.revision)
        return summarise(s.to_record(name, row).spec, row.revision, counters)

    @operation
    def bandit_state(self, name: str) -> list[ArmState]:
        """Each arm's shared state in the current revision (what ``Router.update_arms`` takes)."""
        with self._store.read() as conn:
            dep = s.deployment_row(conn, name)
            row = s.revision_row(conn, dep)
            counters = s.read_counters(conn, dep.id, row.revision)
        return arm_states(s.to_record(name, row).spec, counters)

    # ------------------------------------------------------------------ automation
    @operation
    def evaluate(self, name: str, revision: int) -> Evaluation:
        """Apply the guardrails (rollback) and auto-promotion to ``revision`` if it is still current."""
        current = self.get_deployment(name)
        if current.revision != revision or current.status != "active":
            why = f"revision {revision} is not the active revision (current: {current.revision}, {current.status})"
            return Evaluation(action="none", reason=why, deployment=current)
        stats = self.get_stats(name, revision)
        if stats.guardrail_breaches:
            reason = "guardrail breach: " + "; ".join(stats.guardrail_breaches)
            done = self._rollback(current, AUTOMATION_ACTOR, reason)
            return _evaluation(self, name, "rollback", reason, done)
        rule = current.spec.auto_promote
        if rule is not None and rule.enabled and stats.significant and stats.winner is not None:
            best = next(v for v in stats.variants if v.variant == stats.winner)
            reason = (
                f"auto-promote: variant {best.variant!r} is best with probability {best.prob_best:.3f} "
                f">= {rule.probability} after {best.rewards} rewards"
                + (f" (always-valid p = {best.p_value:.2g} vs the control)" if best.p_value is not None else "")
            )
            done = self._promote(current, _variant(current.spec, best.variant), AUTOMATION_ACTOR, reason)
            return _evaluation(self, name, "promote", reason, done)
        return Evaluation(action="none", reason=None, deployment=current)

    @operation
    def promote(
        self, name: str, variant: str | None = None, actor: str | None = None, reason: str | None = None
    ) -> Deployment:
        """End the experiment: move the alias to ``variant`` (default: the current winner) and send
        all traffic to the alias."""
        current = self.get_deployment(name)
        if variant is None:
            variant = self.get_stats(name).winner
            if variant is None:
                raise InvalidArgument(f"deployment {name!r} has no winner yet (no rewards); name the variant")
        reason = reason or f"promoted variant {variant!r} by hand"
        done = self._promote(current, _variant(current.spec, variant), actor, reason)
        if done is None:
            raise InvalidArgument(f"deployment {name!r} changed while promoting; look at it and try again")
        return done

    @operation
    def rollback(self, name: str, actor: str | None = None, reason: str | None = None) -> Deployment:
        """Send all traffic to the control: every other variant's weight becomes 0."""
        current = self.get_deployment(name)
        if current.status == "rolled_back":
            return current
        done = self._rollback(current, actor, reason or "rolled back by hand")
        if done is None:
            raise InvalidArgument(f"deployment {name!r} changed while rolling back; look at it and try again")
        return done

    def _promote(self, current: Deployment, winner: Variant, actor: str | None, reason: str) -> Deployment | None:
        target = auto.winner_version(current.spec, winner, self._registry)
        new_spec = auto.promoted_spec(current.spec, winner, moved=target is not None)
        note = f"deployment {current.name} r{current.revision}: {reason}"
        return self._next_revision(current, new_spec, "promoted", reason, actor, target, note)

    def _rollback(self, current: Deployment, actor: str | None, reason: str) -> Deployment | None:
        spec = current.spec
        model = auto.target_model(spec)
        target = None
        if model is not None:
            try:
                target = (model, self._registry.get_version_by_alias(model, spec.alias).version)
            except NotFound:  # no alias (or no such model) to note the rollback on
                target = None
        note = f"deployment {current.name} r{current.revision}: rolled back: {reason}"
        return self._next_revision(current, auto.rolled_back_spec(spec), "rolled_back", reason, actor, target, note)

    def _next_revision(
        self,
        current: Deployment,
        spec: DeploymentSpec,
        status: str,
        reason: str,
        actor: str | None,
        alias_target: tuple[str, int] | None,
        note: str,
    ) -> Deployment | None:
        """Write the next revision and the alias move in one transaction, only if ``current`` is
        still the current revision (compare-and-set); None when another process got there first."""
        with self._store.write() as conn:
            dep = s.deployment_row(conn, current.name, lock=True)
            if dep.revision != current.revision:
                return None
            if alias_target is not None:
                self._registry.move_alias(conn, alias_target[0], spec.alias, alias_target[1], actor, note)
            row = s.insert_revision(conn, dep.id, dep.revision + 1, spec, status, reason, actor)
            emit(
                conn,
                f"deployment_{status}",
                f"deployment:{current.name}",
                name=current.name,
                revision=row.revision,
                reason=reason,
                actor=actor,
            )
            return s.to_record(current.name, row)

    # ------------------------------------------------------------------ request-log parts
    @operation
    def add_log_part(
        self,
        endpoint: str,
        digest: str,
        size: int,
        rows: int,
        first_ms: int,
        last_ms: int,
        request_ids: list[str] | None = None,
        request_times: list[int] | None = None,
    ) -> LogPart:
        """Index one Parquet part of an endpoint's request log (idempotent per endpoint and digest);
        ``request_ids``/``request_times`` (epoch ms) index its requests for labels delivered later."""
        if size < 0 or rows < 0 or last_ms < first_ms:
            raise InvalidArgument("a log part needs size >= 0, rows >= 0 and first_ms <= last_ms")
        s.check_request_index(request_ids, request_times)
        p = t.log_parts
        with self._store.write() as conn:
            created = conn.execute(
                dialect_insert(conn, p)
                .values(
                    endpoint=endpoint,
                    digest=digest,
                    size=size,
                    rows=rows,
                    first_ms=first_ms,
                    last_ms=last_ms,
                    created_at=now_ms(),
                )
                .on_conflict_do_nothing(index_elements=["endpoint", "digest"])
                .returning(p.c.id)
            ).first()
            if created is not None and request_ids:  # a repeated part is indexed already
                s.index_requests(conn, endpoint, created.id, request_ids, request_times or [])
            # A manifest entry keeps the part's blob out of `treadle gc`'s reach.
            record_files(conn, f"requestlog/{endpoint}", [(f"{first_ms}-{digest[:16]}.parquet", digest, size)])
            row = conn.execute(select(p).where(p.c.endpoint == endpoint, p.c.digest == digest)).one()
            return _log_part(row)

    @operation
    def list_log_parts(self, endpoint: str, since_ms: int | None = None, until_ms: int | None = None) -> list[LogPart]:
        """An endpoint's request-log parts overlapping [since_ms, until_ms], oldest first."""
        p = t.log_parts
        query = select(p).where(p.c.endpoint == endpoint).order_by(p.c.first_ms, p.c.id)
        if since_ms is not None:
            query = query.where(p.c.last_ms >= since_ms)
        if until_ms is not None:
            query = query.where(p.c.first_ms <= until_ms)
        with self._store.read() as conn:
            return [_log_part(row) for row in conn.execute(query)]


def _check_variants(spec: DeploymentSpec, variants: set[str], name: str, revision: int) -> None:
    known = {v.name for v in spec.variants}
    unknown = sorted(variants - known)
    if unknown:
        raise InvalidArgument(
            f"deployment {name!r} revision {revision} has no variant {unknown[0]!r} "
            f"(variants: {', '.join(sorted(known))})"
        )


def _variant(spec: DeploymentSpec, name: str) -> Variant:
    for v in spec.variants:
        if v.name == name:
            return v
    raise NotFound(f"deployment {spec.name!r} has no variant {name!r} (variants: {[v.name for v in spec.variants]})")


def _evaluation(service: RolloutService, name: str, action: Any, reason: str, done: Deployment | None) -> Evaluation:
    if done is None:  # another process acted on this revision first
        return Evaluation(
            action="none", reason="another process already acted", deployment=service.get_deployment(name)
        )
    return Evaluation(action=action, reason=reason, deployment=done)


def _log_part(row: Any) -> LogPart:
    return LogPart(
        endpoint=row.endpoint,
        digest=row.digest,
        size=row.size,
        rows=row.rows,
        first_ms=row.first_ms,
        last_ms=row.last_ms,
        created_at=row.created_at,
    )
