"""Checkpoints: the last committed position of a stream consumer, stored durably.

Contract: ``load()`` returns the last state passed to ``commit`` (or None before the first), also
after the process was killed at any point; ``commit`` is atomic — a crash during it leaves either
the old or the new state, never a mix. One checkpoint belongs to one consumer at a time.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from abc import ABC, abstractmethod
from typing import Any

import sqlalchemy as sa

from treadle.data._sql import engine_for
from treadle.data._util import mask_url
from treadle.errors import InvalidArgument

_MD = sa.MetaData()
_CHECKPOINTS = sa.Table(
    "treadle_checkpoints",
    _MD,
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)


class Checkpoint(ABC):
    """Durable consumer state (see the module docstring for the contract)."""

    @abstractmethod
    def load(self) -> dict[str, Any] | None: ...

    @abstractmethod
    def commit(self, state: dict[str, Any]) -> None: ...


class FileCheckpoint(Checkpoint):
    """State as a JSON file, replaced atomically (temp file, fsync, rename) on each commit."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.path.abspath(os.fspath(path))

    def load(self) -> dict[str, Any] | None:
        try:
            with open(self.path, encoding="utf-8") as f:
                state = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise InvalidArgument(
                f"checkpoint file {self.path} is unreadable ({exc}); remove it to start over"
            ) from exc
        if not isinstance(state, dict):
            raise InvalidArgument(f"checkpoint file {self.path} does not hold a JSON object")
        return state

    def commit(self, state: dict[str, Any]) -> None:
        folder = os.path.dirname(self.path)
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".ckpt-", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(state, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def __repr__(self) -> str:
        return f"<FileCheckpoint {self.path}>"


class SqlCheckpoint(Checkpoint):
    """State as a row of ``treadle_checkpoints`` (created when missing) in any SQL database."""

    def __init__(self, url: str, name: str) -> None:
        if not name or len(name) > 256:
            raise InvalidArgument("a checkpoint name must be 1-256 characters")
        self.url = url
        self.name = name
        self._ready = False

    def _engine(self) -> sa.Engine:
        engine = engine_for(self.url, "checkpoint database")
        if not self._ready:
            _MD.create_all(engine, checkfirst=True)
            self._ready = True
        return engine

    def load(self) -> dict[str, Any] | None:
        with self._engine().connect() as conn:
            raw = conn.execute(sa.select(_CHECKPOINTS.c.state).where(_CHECKPOINTS.c.name == self.name)).scalar()
        return None if raw is None else dict(json.loads(raw))

    def commit(self, state: dict[str, Any]) -> None:
        values = {"state": json.dumps(state), "updated_at": int(time.time() * 1000)}
        with self._engine().begin() as conn:
            done = conn.execute(sa.update(_CHECKPOINTS).where(_CHECKPOINTS.c.name == self.name).values(**values))
            if done.rowcount == 0:
                conn.execute(sa.insert(_CHECKPOINTS).values(name=self.name, **values))

    def __repr__(self) -> str:
        return f"<SqlCheckpoint {self.name} on {mask_url(self.url)}>"
