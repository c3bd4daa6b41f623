"""Optuna's journal storage over the tuning service: ``optuna.Study`` objects whose state lives in
treadle's store (locally or through a treadle server), readable by any process.

Optuna's ``JournalStorage`` writes one log per operation and then reads the logs it has not seen.
Right after an append whose first number is exactly the next one this reader expects, nothing else
was written in between, so that read is answered from the logs just appended: a write costs one
transaction, not two. Every other read asks the store (other processes may have appended) --
unless the backend was opened with ``fresh_reads=False``: then only the first read and appends
consult the store, and an append that finds logs written by others reads them before going on.
That is for a process that drives a study (asks and tells every trial) while workers only
evaluate: its own writes keep its view current, and reads between them cost nothing.

With ``buffered=True`` (the process that drives a study in ``td.tune``) appends are held in memory
and written by :meth:`TreadleJournalBackend.flush` in one transaction: ``td.tune`` flushes after each
told trial, so a trial costs one journal write instead of one per operation. That relies on the
driver being the study's only writer (workers only evaluate; one session per study), which ``td.tune``
already assumes; a flush that finds logs from another writer says so in a warning.

Snapshots (Optuna's optional ``BaseJournalSnapshot``) are deliberately not implemented: they are
pickles, and a pickle written by one user and loaded by another (or by the UI server) runs code.
Replaying a few thousand logs takes milliseconds.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from optuna.storages.journal import BaseJournalBackend, JournalStorage

from treadle.errors import NotFound

if TYPE_CHECKING:
    import optuna

    from treadle.studies._service import StudyService

READ_PAGE = 10_000
log = logging.getLogger(__name__)


class TreadleJournalBackend(BaseJournalBackend):
    """The journal of one study, named ``study``, kept by a :class:`StudyService` (local or remote).

    Process safe: the store serialises appends and numbers them. Not picklable (it holds a
    database engine or an HTTP client); a worker process opens its own from the client's URI.
    """

    def __init__(self, service: StudyService, study: str, *, fresh_reads: bool = True, buffered: bool = False) -> None:
        self._service = service
        self._study = study
        self._fresh_reads = fresh_reads and not buffered
        self._buffered = buffered
        self._synced = False  # read the store at least once
        self._pending: tuple[int, list[dict[str, Any]]] | None = None
        self._lock = threading.Lock()
        self._unwritten: list[dict[str, Any]] = []  # buffered: appended, not yet in the store
        self._unread: list[dict[str, Any]] = []  # buffered: appended, not yet replayed by Optuna
        self._stored = 0  # buffered: how many logs the store holds, as far as this writer knows

    @property
    def study_name(self) -> str:
        return self._study

    def read_logs(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        if self._buffered:
            stored = [] if self._synced else self._read_store(log_number_from)
            with self._lock:
                unread, self._unread = self._unread, []
            return stored + unread
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None and pending[0] == log_number_from:
            return pending[1]
        if pending is None and self._synced and not self._fresh_reads:
            return []
        return self._read_store(log_number_from)

    def _read_store(self, log_number_from: int) -> list[dict[str, Any]]:
        self._synced = True
        logs: list[dict[str, Any]] = []
        while True:
            page = self._service.read_logs(self._study, after=log_number_from + len(logs) - 1, limit=READ_PAGE)
            logs.extend(page)
            if len(page) < READ_PAGE:
                self._stored = log_number_from + len(logs)
                return logs

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        # Round-trip through JSON so the replay sees exactly what a reader of the store would.
        clean = json.loads(json.dumps(logs))
        if self._buffered:
            with self._lock:
                self._unwritten.extend(clean)
                self._unread.extend(clean)
            return
        first = self._service.append_logs(self._study, clean)
        with self._lock:
            self._pending = (first, clean)

    def flush(self) -> None:
        """Write the buffered logs to the store in one transaction (a no-op when unbuffered)."""
        with self._lock:
            logs, self._unwritten = self._unwritten, []
        if not logs:
            return
        first = self._service.append_logs(self._study, logs)
        if first != self._stored:
            log.warning(
                "study %r was written by another process while this session drove it: trial numbers may "
                "differ from the store's order (run one td.tune session per study)",
                self._study,
            )
        self._stored = first + len(logs)


def journal_storage(
    service: StudyService, name: str, *, fresh_reads: bool = True, buffered: bool = False
) -> JournalStorage:
    """An Optuna storage holding study ``name`` (pass it to ``optuna.create_study``/``load_study``);
    ``buffered``: see the module docstring (call ``flush_journal(storage)`` to write)."""
    return JournalStorage(TreadleJournalBackend(service, name, fresh_reads=fresh_reads, buffered=buffered))


def flush_journal(storage: Any) -> None:
    """Write what a buffered :func:`journal_storage` holds (a no-op for any other storage)."""
    backend = getattr(storage, "_backend", None)
    if isinstance(backend, TreadleJournalBackend):
        backend.flush()


def open_study(service: StudyService, name: str, **kwargs: Any) -> optuna.Study:
    """The Optuna study ``name`` (NotFound if it does not exist); ``kwargs`` go to ``optuna.load_study``
    (``sampler=``, ``pruner=``) for callers that will add trials."""
    import optuna

    service.get_study(name)  # NotFound with a helpful message
    try:
        return optuna.load_study(study_name=name, storage=journal_storage(service, name), **kwargs)
    except KeyError as exc:  # the summary row exists but the journal has no create-study log
        raise NotFound(f"study {name!r} has no journal yet") from exc
