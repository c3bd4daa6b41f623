"""The SQL metadata store: one engine pair, one migration history, selected by URI.

Capabilities define their tables on :data:`metadata` in their own ``_store.py`` and run
their queries through :class:`Store`'s ``read()`` / ``write()`` transactions.
"""

from treadle.store._engine import Store, is_sql_uri, now_ms
from treadle.store._migrate import current_revision, head_revision, upgrade
from treadle.store._schema import metadata, pk_bigint
from treadle.store._sql import dialect_insert, insert_for, per_dialect

__all__ = [
    "Store",
    "current_revision",
    "dialect_insert",
    "head_revision",
    "insert_for",
    "is_sql_uri",
    "metadata",
    "now_ms",
    "per_dialect",
    "pk_bigint",
    "upgrade",
]
