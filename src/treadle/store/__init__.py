"""The SQL metadata store: one engine pair, one migration history, selected by URI.

Capabilities define their tables on :data:`metadata` in their own ``_store.py`` and run
their queries through :class:`Store`'s ``read()`` / ``write()`` transactions.
"""

from treadle.store._engine import Store, is_sql_uri, now_ms
from treadle.store._migrate import current_revision, head_revision, upgrade
from treadle.store._schema import metadata, pk_bigint
from treadle.store._sql import dialect_insert, driver_rows, insert_for, per_dialect, placeholders, rows_for_ids
from treadle.store._workspaces import (
    DEFAULT as DEFAULT_WORKSPACE,
)
from treadle.store._workspaces import (
    WORKSPACE_RE,
    check_workspace,
    main_uri,
    pg_schema,
    workspace_artifacts,
    workspace_of,
    workspace_online_store,
    workspace_uri,
)

__all__ = [
    "DEFAULT_WORKSPACE",
    "WORKSPACE_RE",
    "Store",
    "check_workspace",
    "current_revision",
    "dialect_insert",
    "driver_rows",
    "head_revision",
    "insert_for",
    "is_sql_uri",
    "main_uri",
    "metadata",
    "now_ms",
    "per_dialect",
    "pg_schema",
    "pk_bigint",
    "placeholders",
    "rows_for_ids",
    "upgrade",
    "workspace_artifacts",
    "workspace_of",
    "workspace_online_store",
    "workspace_uri",
]
