"""``treadle users``, ``treadle tokens`` and ``treadle whoami``: who may use a store or server.

Every command is a thin layer over ``Client.access`` (:class:`treadle.access.AccessService`): on
a database the CLI acts as its admin (a local process); against a server (``--uri http://...``)
it acts as the user of ``$TREADLE_TOKEN`` and the server decides what that user may do.
Passwords are read from a hidden prompt or from stdin (``--password-stdin``), never from argv.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from treadle.access import ApiToken, User
from treadle.cli._context import state
from treadle.cli._output import echo_json, fail, fmt_time, key_value_grid, note, out, plural
from treadle.client import Client
from treadle.store import now_ms

users = typer.Typer(no_args_is_help=True, help="Create, list, disable and delete users (server admins).")
tokens = typer.Typer(no_args_is_help=True, help="API tokens: create (shown once), list, revoke.")


class RoleChoice(StrEnum):
    """A role in a workspace."""

    viewer = "viewer"
    editor = "editor"
    admin = "admin"


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
UserArg = Annotated[str, typer.Argument(metavar="NAME", help="The user's name.")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin (for scripts).")
]


def read_password(from_stdin: bool) -> str:
    """A password from stdin's first line, or from a hidden prompt asked twice."""
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            fail('--password-stdin read no password: pipe it in, e.g. `printf %s "$PW" | treadle users ...`')
        return line
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    return password


# --- users ---------------------------------------------------------------------------------------
@users.command("create")
def create_user(
    ctx: typer.Context,
    name: UserArg,
    admin: Annotated[bool, typer.Option("--admin", help="A server admin: manages users and every workspace.")] = False,
    password_stdin: PasswordStdin = False,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="No password: the user signs in with API tokens only.")
    ] = False,
    workspace: Annotated[
        str | None, typer.Option("--workspace", help="Also make the user a member of this workspace.")
    ] = None,
    role: Annotated[RoleChoice | None, typer.Option("--role", help="Their role in --workspace.")] = None,
) -> None:
    """Create a user (asks for the password twice unless --password-stdin or --no-password)."""
    if password_stdin and no_password:
        fail("give --password-stdin or --no-password, not both")
    if role is not None and workspace is None:
        fail("--role needs --workspace (the workspace the role is in)")
    access = state(ctx).client().access
    password = None if no_password else read_password(password_stdin)
    user = access.create_user(name, password=password, admin=admin)
    what = "admin" if user.admin else "user"
    note(f"Created {what} {user.name}" + ("" if user.has_password else " (no password: tokens only)"))
    if workspace is not None:
        member = access.set_member(workspace, name, (role or RoleChoice.viewer).value)
        note(f"{name} is {member.role} in workspace {workspace}")
    if not user.admin and workspace is None:
        note(f"Give them a role with `treadle workspaces add-member WORKSPACE {name} --role editor`.")


@users.command("list")
def list_users(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every user (server admins only)."""
    found = state(ctx).client().access.list_users()
    if as_json:
        echo_json([u.model_dump(mode="json") for u in found])
        return
    if not found:
        note("No users yet; create an admin with `treadle users create NAME --admin`.")
        return
    table = Table(title=plural(len(found), "user"))
    for col in ("name", "admin", "status", "password", "created"):
        table.add_column(col, no_wrap=True)
    for u in found:
        table.add_row(
            u.name, "admin" if u.admin else "", _status(u), "yes" if u.has_password else "no", fmt_time(u.created_at)
        )
    out().print(table)


@users.command("show")
def show_user(ctx: typer.Context, name: UserArg, as_json: JsonOpt = False) -> None:
    """One user and their live tokens (yourself, or anyone for an admin)."""
    access = state(ctx).client().access
    user = access.get_user(name)
    live = [t for t in access.list_tokens(user=name) if _token_state(t) == "live"]
    if as_json:
        echo_json({**user.model_dump(mode="json"), "live_tokens": len(live)})
        return
    rows = [
        ("name", user.name),
        ("admin", "yes" if user.admin else "no"),
        ("status", _status(user)),
        ("password", "yes" if user.has_password else "no (tokens only)"),
        ("created", fmt_time(user.created_at)),
        ("live tokens", str(len(live))),
    ]
    out().print(key_value_grid(rows))


def _update(ctx: typer.Context, name: str, done: str, admin: bool | None = None, disabled: bool | None = None) -> None:
    user = state(ctx).client().access.update_user(name, admin=admin, disabled=disabled)
    note(f"{user.name} {done}")


@users.command("disable")
def disable(ctx: typer.Context, name: UserArg) -> None:
    """Disable a user: their tokens, password and sessions stop working at once (enable brings them back)."""
    _update(ctx, name, "is disabled (signed out everywhere)", disabled=True)


@users.command("enable")
def enable(ctx: typer.Context, name: UserArg) -> None:
    """Enable a disabled user again."""
    _update(ctx, name, "is enabled", disabled=False)


@users.command("grant-admin")
def grant_admin(ctx: typer.Context, name: UserArg) -> None:
    """Make a user a server admin."""
    _update(ctx, name, "is now a server admin", admin=True)


@users.command("revoke-admin")
def revoke_admin(ctx: typer.Context, name: UserArg) -> None:
    """Take a user's server-admin rights away (their workspace roles stay)."""
    _update(ctx, name, "is no longer a server admin", admin=False)


@users.command("set-password")
def set_password(ctx: typer.Context, name: UserArg, password_stdin: PasswordStdin = False) -> None:
    """Set a user's password (your own, or anyone's for an admin); signs them out of the web UI."""
    password = read_password(password_stdin)
    state(ctx).client().access.update_user(name, password=password)
    note(f"Set the password of {name}")


@users.command("delete")
def delete_user(
    ctx: typer.Context,
    name: UserArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a user with their tokens and memberships (the audit log keeps their name)."""
    if not yes:
        typer.confirm(f"Delete user {name}, their tokens and their memberships?", abort=True, err=True)
    state(ctx).client().access.delete_user(name)
    note(f"Deleted user {name}")


def _status(user: User) -> str:
    return "disabled" if user.disabled else "active"


# --- whoami --------------------------------------------------------------------------------------
def whoami(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Who you are to the store or server (--uri), and in which workspace."""
    client = state(ctx).client()
    me = client.access.whoami()
    if as_json:
        echo_json({**me.model_dump(mode="json"), "uri": client.uri, "workspace": client.workspace})
        return
    via = {
        "local": "local access to the database (full rights)",
        "anonymous": "a server without sign-in (full rights)",
        "token": f"API token {me.token_id}",
    }.get(me.via, me.via)
    rows = [
        ("user", me.user),
        ("admin", "yes" if me.admin else "no"),
        ("via", via),
        ("uri", client.uri),
        ("workspace", client.workspace),
    ]
    out().print(key_value_grid(rows))


# --- tokens --------------------------------------------------------------------------------------
@tokens.command("create")
def create_token(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", "-n", help="What the token is for (shown in listings).")] = "",
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="Whose token (default: yours; others: admins).")
    ] = None,
    expires_days: Annotated[
        float | None, typer.Option("--expires-days", min=0.001, help="Days until it expires (default: 90).")
    ] = None,
    no_expiry: Annotated[bool, typer.Option("--no-expiry", help="A token that never expires.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the secret (for scripts).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create an API token; its secret is printed this once (use it as TREADLE_TOKEN)."""
    if no_expiry and expires_days is not None:
        fail("give --expires-days or --no-expiry, not both")
    client = state(ctx).client()
    if user is None and not _remote(client):
        fail("on a database there is no signed-in user: say whose token it is with --user NAME")
    days = None if no_expiry else 90 if expires_days is None else expires_days
    new = client.access.create_token(name=name, user=user, expires_days=days)
    if quiet:
        typer.echo(new.secret)
        return
    if as_json:
        echo_json({**new.token.model_dump(mode="json"), "secret": new.secret})
        return
    token = new.token
    expires = f"expires {fmt_time(token.expires_at)}" if token.expires_at else "never expires"
    label = f" ({token.name})" if token.name else ""
    note(f"Created token {token.id}{label} for {token.user}; it {expires}.")
    typer.echo(new.secret)
    warning = Text(
        "Store it now: the secret cannot be shown again. Use it as TREADLE_TOKEN=<secret> "
        "or the header `Authorization: Bearer <secret>`.",
        style="bold yellow",
    )
    out().print(warning, soft_wrap=True)


@tokens.command("list")
def list_tokens(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", "-u", help="Whose tokens (default: yours).")] = None,
    all_users: Annotated[bool, typer.Option("--all", help="Everyone's tokens (admins only).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """API tokens, newest first, never their secrets (on a database: everyone's unless --user)."""
    if all_users and user is not None:
        fail("give --user or --all, not both")
    client = state(ctx).client()
    everyone = all_users or (user is None and not _remote(client))  # a database has no "you": list them all
    found = client.access.list_tokens(user="*" if everyone else user)
    if as_json:
        echo_json([{**t.model_dump(mode="json"), "state": _token_state(t)} for t in found])
        return
    if not found:
        note("No tokens; create one with `treadle tokens create --name NAME`.")
        return
    table = Table(title=plural(len(found), "token"))
    for col in ("id", "user", "name", "prefix", "state", "expires", "last used"):
        table.add_column(col, no_wrap=col != "name", min_width=len(col))
    for t in found:
        st = _token_state(t)
        style = {"live": "green", "revoked": "red", "expired": "yellow"}[st]
        table.add_row(
            str(t.id),
            t.user,
            t.name,
            t.prefix + "…",
            Text(st, style=style),
            fmt_time(t.expires_at, short=True) if t.expires_at else "never",
            fmt_time(t.last_used_at, short=True),
        )
    out().print(table)


@tokens.command("revoke")
def revoke_token(
    ctx: typer.Context, token_id: Annotated[int, typer.Argument(metavar="ID", help="The token's id (tokens list).")]
) -> None:
    """Revoke a token (yours, or anyone's for an admin); it stops working at once."""
    token = state(ctx).client().access.revoke_token(token_id)
    label = f" ({token.name})" if token.name else ""
    note(f"Revoked token {token.id}{label} of {token.user}")


def _remote(client: Client) -> bool:
    return client.uri.startswith(("http://", "https://"))


def _token_state(token: ApiToken) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now_ms():
        return "expired"
    return "live"
