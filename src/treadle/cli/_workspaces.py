"""``treadle workspaces`` and ``treadle audit``: workspaces, who holds which role, and the audit log.

Thin over ``Client.access`` like :mod:`treadle.cli._access`: creating workspaces needs a server
admin; a workspace's members and its audit entries need its admin role.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from treadle.cli._access import JsonOpt, RoleChoice
from treadle.cli._context import state
from treadle.cli._output import echo_json, fmt_time, note, out, plural

app = typer.Typer(no_args_is_help=True, help="Workspaces (a store each) and their members' roles.")

WorkspaceArg = Annotated[str, typer.Argument(metavar="NAME", help="The workspace's name.")]
MemberArg = Annotated[str, typer.Argument(metavar="USER", help="The user's name.")]


@app.command("create")
def create(
    ctx: typer.Context,
    name: WorkspaceArg,
    description: Annotated[str, typer.Option("--description", "-d", help="What the workspace is for.")] = "",
) -> None:
    """Create a workspace: its own, empty store (server admins only)."""
    ws = state(ctx).client().access.create_workspace(name, description)
    note(f"Created workspace {ws.name}; add people with `treadle workspaces add-member {ws.name} USER --role editor`.")


@app.command("list")
def list_workspaces(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The workspaces you can use (all of them for an admin)."""
    found = state(ctx).client().access.list_workspaces()
    if as_json:
        echo_json([w.model_dump(mode="json") for w in found])
        return
    if not found:
        note("You are not a member of any workspace.")
        return
    table = Table(title=plural(len(found), "workspace"))
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("description")
    for w in found:
        table.add_row(w.name, fmt_time(w.created_at or None), w.description)
    out().print(table)


@app.command("members")
def members(ctx: typer.Context, name: WorkspaceArg, as_json: JsonOpt = False) -> None:
    """Who holds which role in a workspace (its admins and server admins)."""
    found = state(ctx).client().access.list_members(name)
    if as_json:
        echo_json([m.model_dump(mode="json") for m in found])
        return
    if not found:
        note(f"Workspace {name} has no members (server admins can use every workspace).")
        return
    note(f"{plural(len(found), 'member')} of workspace {name}")
    table = Table()
    table.add_column("user", style="bold", no_wrap=True)
    table.add_column("role", no_wrap=True)
    for m in found:
        table.add_row(m.user, m.role)
    out().print(table)


RoleOpt = Annotated[RoleChoice, typer.Option("--role", "-r", help="viewer: read; editor: read and write; admin: all.")]


@app.command("add-member")
def add_member(ctx: typer.Context, name: WorkspaceArg, user: MemberArg, role: RoleOpt) -> None:
    """Give a user a role in a workspace (replacing the one they had)."""
    member = state(ctx).client().access.set_member(name, user, role.value)
    note(f"{member.user} is {member.role} in workspace {member.workspace}")


app.command("set-role", help="Change a member's role (the same as add-member).")(add_member)


@app.command("remove-member")
def remove_member(ctx: typer.Context, name: WorkspaceArg, user: MemberArg) -> None:
    """Take a user's role in a workspace away."""
    state(ctx).client().access.remove_member(name, user)
    note(f"{user} is no longer a member of workspace {name}")


def audit(
    ctx: typer.Context,
    workspace: Annotated[
        str | None,
        typer.Option("--workspace", help="Only this workspace (needed unless you are a server admin)."),
    ] = None,
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user's writes.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10_000, help="At most this many entries.")] = 50,
    before: Annotated[int | None, typer.Option("--before", help="Only entries older than this id (paging).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The writes a server accepted or refused, newest first: who, where, what, and the status."""
    entries = state(ctx).client().access.list_audit(workspace=workspace, user=user, before_id=before, limit=limit)
    if as_json:
        echo_json([e.model_dump(mode="json") for e in entries])
        return
    if not entries:
        note("No audited writes (a server with sign-in on records them).")
        return
    table = Table(title=plural(len(entries), "audit entry").replace("entrys", "entries"))
    for col in ("id", "time", "user", "workspace", "method", "operation", "status", "from"):
        table.add_column(col, no_wrap=col != "operation", min_width=len(col))
    for e in entries:
        table.add_row(
            str(e.id),
            fmt_time(e.at, short=True),
            e.user,
            e.workspace,
            e.method,
            e.operation or e.path,
            Text(str(e.status), style="green" if e.status < 400 else "red"),
            e.remote,
        )
    out().print(table)
    if len(entries) == limit:
        note(f"Older entries: --before {entries[-1].id}")
