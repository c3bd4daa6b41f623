"""``treadle db upgrade|current``: the store's schema revision."""

from __future__ import annotations

import typer

from treadle.cli._context import state
from treadle.cli._output import fail, note
from treadle.store import Store, current_revision, head_revision, is_sql_uri, upgrade

app = typer.Typer(no_args_is_help=True, help="Inspect and migrate the metadata database's schema.")


def _open(uri: str) -> Store:
    if not is_sql_uri(uri):
        fail(
            f"`treadle db` works on a database (sqlite:///... or postgresql+psycopg://...), not {uri!r}; "
            "run it where the server's database is"
        )
    return Store(uri, check_schema=False)


@app.command("upgrade")
def upgrade_command(ctx: typer.Context) -> None:
    """Migrate the database to this treadle's schema (back it up first)."""
    store = _open(state(ctx).uri)
    try:
        before, after = upgrade(store)
    finally:
        store.dispose()
    if before == after:
        note(f"Schema already at {after} (head); nothing to do.")
    else:
        note(f"Upgraded schema from {before or '<empty>'} to {after}.")


@app.command("current")
def current(ctx: typer.Context) -> None:
    """Show the database's schema revision and this treadle's."""
    store = _open(state(ctx).uri)
    try:
        with store.read() as conn:
            revision = current_revision(conn)
    finally:
        store.dispose()
    head = head_revision()
    note(f"current: {revision or '<empty>'}")
    note(f"head:    {head}")
    if revision == head:
        note("The schema is up to date.")
    elif revision is None:
        note("The database is empty; it is created on first use (or by `treadle db upgrade`).")
    else:
        note("The schema differs from this treadle's; run `treadle db upgrade` (or upgrade treadle).")
