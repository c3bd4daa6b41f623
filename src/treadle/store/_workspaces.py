"""Where a workspace keeps its data: its own database (SQLite file or PostgreSQL schema) and blob root.

A workspace is a whole store of its own, so every capability is isolated by construction — no query
can forget a workspace filter. The ``default`` workspace is the main store itself; another workspace
``w`` lives beside it, and its URI says so — child processes given the URI land in the same
workspace without being told anything else:

* ``sqlite:///dir/treadle.db``            → ``sqlite:///dir/.workspaces/w/treadle.db``
* ``postgresql+psycopg://host/db``        → the same database, schema ``ws_w`` (via ``search_path``)
* a server ``http://host:port``          → ``http://host:port/w/w`` (the server's gateway routes it)
* blobs ``root`` (a path or fsspec URL)    → ``root/.workspaces/w`` (the main store's gc skips it)
* online features ``sqlite:///dir/x.db``  → ``sqlite:///dir/.workspaces/w/x.db``; ``redis://...`` →
  key prefix ``ws:w:``
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from sqlalchemy.engine import URL, make_url

from treadle.errors import InvalidArgument

DEFAULT = "default"
WORKSPACE_RE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


def check_workspace(name: str) -> str:
    if not isinstance(name, str) or not WORKSPACE_RE.match(name):
        raise InvalidArgument(
            f"invalid workspace name {name!r}: use 1-63 lowercase letters, digits or '-', starting with a letter"
        )
    return name


def pg_schema(workspace: str) -> str:
    return "ws_" + check_workspace(workspace).replace("-", "_")


def workspace_uri(uri: str, workspace: str) -> str:
    """The URI of ``workspace`` given the main store's (or server's) ``uri``; idempotent."""
    if check_workspace(workspace) == DEFAULT or workspace_of(uri) == workspace:
        return uri
    if workspace_of(uri) != DEFAULT:
        raise InvalidArgument(f"{uri!r} is already the URI of workspace {workspace_of(uri)!r}")
    if uri.startswith(("http://", "https://")):
        return f"{uri.rstrip('/')}/w/{workspace}"
    url = make_url(uri)
    if url.get_backend_name() == "sqlite":
        head, _, name = (url.database or "").replace("\\", "/").rpartition("/")
        return url.set(database=f"{head + '/' if head else ''}.workspaces/{workspace}/{name}").render_as_string(
            hide_password=False
        )
    # Appended to any libpq options of the main store's (a later -c wins), so main_uri can take it off again.
    options = f"{_pg_options(url)} -csearch_path={pg_schema(workspace)}".strip()
    return url.update_query_dict({"options": options}).render_as_string(hide_password=False)


def workspace_of(uri: str) -> str:
    """Which workspace a URI made by :func:`workspace_uri` points at (``default`` for the main store)."""
    if uri.startswith(("http://", "https://")):
        match = _HTTP_RE.search(uri)
    elif uri.startswith("sqlite"):
        match = _SQLITE_RE.search(uri.replace("\\", "/"))
    else:
        match = _PG_RE.search(unquote(uri))
        return match.group(1).replace("_", "-") if match else DEFAULT
    return match.group(1) if match else DEFAULT


def main_uri(uri: str) -> str:
    """The main store's URI, given any workspace's."""
    workspace = workspace_of(uri)
    if workspace == DEFAULT:
        return uri
    if uri.startswith(("http://", "https://")):
        return _HTTP_RE.sub("", uri)
    if uri.startswith("sqlite"):
        return uri.replace("\\", "/").replace(f"/.workspaces/{workspace}/", "/", 1)
    url = make_url(uri)
    options = _PG_OPTION_RE.sub("", _pg_options(url)).strip()
    url = url.difference_update_query(["options"])
    return (url.update_query_dict({"options": options}) if options else url).render_as_string(hide_password=False)


def _pg_options(url: URL) -> str:
    options = url.query.get("options", "")
    return " ".join(options) if isinstance(options, tuple) else options


_HTTP_RE = re.compile(r"/w/([a-z][a-z0-9-]{0,62})/?$")
_SQLITE_RE = re.compile(r"/\.workspaces/([a-z][a-z0-9-]{0,62})/[^/]+$")
_PG_RE = re.compile(r"search_path=ws_([a-z][a-z0-9_]{0,62})")
_PG_OPTION_RE = re.compile(r"\s*-c\s*search_path=ws_[a-z][a-z0-9_]{0,62}")


def workspace_artifacts(root: str, workspace: str) -> str:
    if check_workspace(workspace) == DEFAULT or root.replace("\\", "/").rstrip("/").endswith(
        f"/.workspaces/{workspace}"
    ):
        return root
    return root.rstrip("/\\") + f"/.workspaces/{workspace}"


def workspace_online_store(uri: str, workspace: str) -> str:
    if check_workspace(workspace) == DEFAULT:
        return uri
    if uri.startswith("redis"):
        parts = urlsplit(uri)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        tag = f"ws:{workspace}:"
        if not query.get("prefix", "").endswith(tag):
            query["prefix"] = query.get("prefix", "") + tag
        return urlunsplit(parts._replace(query=urlencode(query)))
    return workspace_uri(uri, workspace)
