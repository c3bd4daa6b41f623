"""Row helpers for the dataset repository (rows never leave this module)."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, select

from treadle import names
from treadle.artifacts._store import files_table
from treadle.datasets import _tables as t
from treadle.datasets._records import ColumnSchema, Dataset, DatasetVersion
from treadle.errors import NotFound

MAX_VERSION = 2**63 - 1


def check_name(name: str) -> str:
    return names.check_name(name, "dataset")


def check_alias(alias: str) -> str:
    return names.check_alias(alias, reserved=("latest", "diff"))  # "diff" is a UI route


def dataset_row(conn: Connection, name: str, *, lock: bool = False) -> Any:
    query = select(t.datasets).where(t.datasets.c.name == name)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()  # serialise version numbering per dataset
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"dataset {name!r} does not exist")
    return row


def latest_number(conn: Connection, dataset_id: int) -> int | None:
    v = t.versions
    number: int | None = conn.execute(select(func.max(v.c.version)).where(v.c.dataset_id == dataset_id)).scalar()
    return number


def version_row(conn: Connection, dataset: Any, version: int | None = None, alias: str | None = None) -> Any:
    """A version by number, alias (``latest`` and ``v<N>`` included) or, with neither, the latest."""
    if alias is not None:
        if alias == "latest":
            version = None
        elif re.fullmatch(r"v\d+", alias):
            version = int(alias[1:])
        else:
            a = t.aliases
            version = conn.execute(select(a.c.version).where(a.c.dataset_id == dataset.id, a.c.alias == alias)).scalar()
            if version is None:
                raise NotFound(f"dataset {dataset.name!r} has no alias {alias!r}")
    if version is None:
        version = latest_number(conn, dataset.id)
        if version is None:
            raise NotFound(f"dataset {dataset.name!r} has no versions yet")
    if not 0 <= version <= MAX_VERSION:  # "v99999999999999999999" must not reach the driver (OverflowError)
        raise NotFound(f"dataset {dataset.name!r} has no version {version}")
    row = conn.execute(
        select(t.versions).where(t.versions.c.dataset_id == dataset.id, t.versions.c.version == version)
    ).first()
    if row is None:
        raise NotFound(f"dataset {dataset.name!r} has no version {version}")
    return row


def manifest_summary(conn: Connection, manifest: str) -> tuple[str, int, int]:
    """(content digest, file count, total bytes) of a manifest. The digest is sha256 over the
    sorted (path, digest) pairs, so the same files always give the same version digest."""
    f = files_table
    sha, count, size = hashlib.sha256(), 0, 0
    rows = conn.execute(select(f.c.path, f.c.digest, f.c.size).where(f.c.manifest == manifest).order_by(f.c.path))
    for path, digest, nbytes in rows:
        sha.update(f"{path}\0{digest}\n".encode())
        count += 1
        size += nbytes
    return sha.hexdigest(), count, size


def load_datasets(conn: Connection, rows: Sequence[Any]) -> list[Dataset]:
    ids = [r.id for r in rows]
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    aliases: dict[int, dict[str, int]] = defaultdict(dict)
    latest: dict[int, int] = {}
    if ids:
        for did, key, value in conn.execute(select(t.dataset_tags).where(t.dataset_tags.c.dataset_id.in_(ids))):
            tags[did][key] = value
        a = t.aliases
        for did, alias, version in conn.execute(
            select(a.c.dataset_id, a.c.alias, a.c.version).where(a.c.dataset_id.in_(ids))
        ):
            aliases[did][alias] = version
        v = t.versions
        query = select(v.c.dataset_id, func.max(v.c.version)).where(v.c.dataset_id.in_(ids)).group_by(v.c.dataset_id)
        latest = {did: number for did, number in conn.execute(query)}
    return [
        Dataset(
            name=r.name,
            description=r.description,
            created_at=r.created_at,
            updated_at=r.updated_at,
            tags=tags[r.id],
            aliases=aliases[r.id],
            latest_version=latest.get(r.id),
        )
        for r in rows
    ]


def load_versions(conn: Connection, name: str, dataset_id: int, rows: Sequence[Any]) -> list[DatasetVersion]:
    a = t.aliases
    by_version: dict[int, list[str]] = defaultdict(list)
    for alias, version in conn.execute(select(a.c.alias, a.c.version).where(a.c.dataset_id == dataset_id)):
        by_version[version].append(alias)
    return [
        DatasetVersion(
            name=name,
            version=r.version,
            digest=r.digest,
            kind=r.kind,
            num_rows=r.num_rows,
            num_files=r.num_files,
            size_bytes=r.size_bytes,
            columns=[ColumnSchema(**c) for c in r.schema.get("columns", [])],
            pandera_schema=r.schema.get("pandera"),
            stats=r.stats,
            source=r.source,
            description=r.description,
            tags=r.tags,
            run_id=r.run_id,
            created_by=r.created_by,
            created_at=r.created_at,
            aliases=sorted(by_version[r.version]),
        )
        for r in rows
    ]
