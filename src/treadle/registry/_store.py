"""Row helpers for the registry (rows never leave this module)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, select, update

from treadle import names
from treadle.errors import NotFound
from treadle.registry import _tables as t
from treadle.registry._records import ModelVersion, RegisteredModel
from treadle.store import now_ms


def check_name(name: str) -> str:
    return names.check_name(name, "model")


def check_alias(alias: str) -> str:
    return names.check_alias(alias)


def model_row(conn: Connection, name: str, *, lock: bool = False) -> Any:
    query = select(t.models).where(t.models.c.name == name)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()  # serialise version numbering and alias moves per model
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"registered model {name!r} does not exist")
    return row


def touch_model(conn: Connection, model_id: int) -> None:
    """A change to a model's versions, aliases or approvals updates the model too."""
    conn.execute(update(t.models).where(t.models.c.id == model_id).values(updated_at=now_ms()))


def version_row(conn: Connection, model_id: int, name: str, version: int) -> Any:
    if not 1 <= version < 2**31:
        raise NotFound(f"model {name!r} has no version {version}")
    row = conn.execute(
        select(t.versions).where(t.versions.c.model_id == model_id, t.versions.c.version == version)
    ).first()
    if row is None:
        raise NotFound(f"model {name!r} has no version {version}")
    return row


def load_models(conn: Connection, rows: Sequence[Any]) -> list[RegisteredModel]:
    ids = [r.id for r in rows]
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    aliases: dict[int, dict[str, int]] = defaultdict(dict)
    latest: dict[int, int] = {}
    if ids:
        for mid, key, value in conn.execute(select(t.model_tags).where(t.model_tags.c.model_id.in_(ids))):
            tags[mid][key] = value
        a, v = t.aliases, t.versions
        for mid, alias, version in conn.execute(
            select(a.c.model_id, a.c.alias, v.c.version).join(v, v.c.id == a.c.version_id).where(a.c.model_id.in_(ids))
        ):
            aliases[mid][alias] = version
        for mid, version in conn.execute(
            select(v.c.model_id, func.max(v.c.version)).where(v.c.model_id.in_(ids)).group_by(v.c.model_id)
        ):
            latest[mid] = version
    return [
        RegisteredModel(
            name=r.name,
            description=r.description,
            owner=r.owner,
            lifecycle=r.lifecycle,
            created_at=r.created_at,
            updated_at=r.updated_at,
            tags=tags[r.id],
            aliases=aliases[r.id],
            latest_version=latest.get(r.id),
        )
        for r in rows
    ]


def load_versions(conn: Connection, name_by_id: dict[int, str], rows: Sequence[Any]) -> list[ModelVersion]:
    ids = [r.id for r in rows]
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    aliases: dict[int, list[str]] = defaultdict(list)
    if ids:
        for vid, key, value in conn.execute(select(t.version_tags).where(t.version_tags.c.version_id.in_(ids))):
            tags[vid][key] = value
        for vid, alias in conn.execute(
            select(t.aliases.c.version_id, t.aliases.c.alias).where(t.aliases.c.version_id.in_(ids))
        ):
            aliases[vid].append(alias)
    return [
        ModelVersion(
            name=name_by_id[r.model_id],
            version=r.version,
            source=r.source,
            run_id=r.run_id,
            status=r.status,
            status_message=r.status_message,
            approval=r.approval,
            approval_by=r.approval_by,
            approval_reason=r.approval_reason,
            approval_at=r.approval_at,
            description=r.description,
            flavor=r.flavor,
            digest=r.digest,
            lifecycle=r.lifecycle,
            created_by=r.created_by,
            created_at=r.created_at,
            updated_at=r.updated_at,
            tags=tags[r.id],
            aliases=sorted(aliases[r.id]),
        )
        for r in rows
    ]


def version_manifest(model_id: int, version: int) -> str:
    return f"model/{model_id}/v{version}"


def version_node_id(model_id: int, version: int) -> str:
    return f"model_version:{model_id}:{version}"
