"""What every command shares: the backend the global options chose, and name/id resolution."""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from enum import StrEnum

import typer

from treadle.client import Client
from treadle.errors import InvalidArgument, NotFound
from treadle.tracking import Experiment, Run

MIN_PREFIX = 4
RUN_ID_LENGTH = 32  # uuid4 hex


class View(StrEnum):
    """Which lifecycle a listing shows."""

    active = "active"
    deleted = "deleted"
    all = "all"


@dataclass
class CliState:
    """The ``--uri`` / ``--artifacts`` / ``--workspace`` the user gave (already defaulted from ``TREADLE_*``)."""

    uri: str
    artifacts: str
    workspace: str | None = None  # None: $TREADLE_WORKSPACE, else the main store (workspace ``default``)
    _client: Client | None = field(default=None, repr=False)

    def client(self) -> Client:
        """The SDK client, opened on first use (so ``treadle db`` never opens the store).

        It sends ``$TREADLE_TOKEN`` to a server (see :class:`treadle.client.Client`)."""
        if self._client is None:
            self._client = Client(self.uri, self.artifacts, workspace=self.workspace)
        return self._client


def state(ctx: typer.Context) -> CliState:
    found = ctx.find_object(CliState)
    if found is None:  # a command invoked without the root callback (embedding, tests)
        from treadle.config import Settings

        settings = Settings()
        found = CliState(settings.uri, settings.artifacts)
        ctx.obj = found
    return found


def actor() -> str | None:
    """Who the CLI acts for in alias histories and approvals: the operating-system user."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (some containers)
        return None


def resolve_experiment(client: Client, ref: str) -> Experiment:
    """An experiment by id (all digits) or by name, deleted ones included."""
    if ref.isdigit():
        try:
            return client.tracking.get_experiment(ref)
        except NotFound:
            pass
    try:
        return client.tracking.get_experiment_by_name(ref)
    except NotFound:
        raise NotFound(f"no experiment with id or name {ref!r}; see `treadle experiments list`") from None


def resolve_run(client: Client, ref: str) -> Run:
    """A run by its id or by a unique prefix of it (at least four hex digits), deleted ones included."""
    ref = ref.strip().lower()
    try:
        return client.get_run(ref)
    except NotFound:
        if not MIN_PREFIX <= len(ref) < RUN_ID_LENGTH or not set(ref) <= set(string.hexdigits.lower()):
            raise NotFound(f"run {ref!r} does not exist; see `treadle runs list`") from None
    page = client.tracking.search_runs(filter=f"attributes.run_id LIKE '{ref}%'", max_results=2, view="all")
    if not page.runs:
        raise NotFound(f"no run id starts with {ref!r}; see `treadle runs list`")
    if len(page.runs) > 1:
        raise InvalidArgument(f"run id prefix {ref!r} is ambiguous; give more characters")
    return page.runs[0]
