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

Snapshots (Optuna's optional ``BaseJournalSnapshot``) are deliberately not implemented: they are
pickles, and a pickle written by one user and loaded by another (or by the UI server) runs code.
Replaying a few thousand logs takes milliseconds.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from optuna.storages.journal import BaseJournalBackend, JournalStorage

from treadle.errors import NotFound

if TYPE_CHECKING:
    import optuna

    from treadle.studies._service import StudyService

READ_PAGE = 10_000


class TreadleJournalBackend(BaseJournalBackend):
    """The journal of one study, named ``study``, kept by a :class:`StudyService` (local or remote).

    Process safe: the store serialises appends and numbers them. Not picklable (it holds a
    database engine or an HTTP client); a worker process opens its own from the client's URI.
    """

    def __init__(self, service: StudyService, study: str, *, fresh_reads: bool = True) -> None:
        self._service = service
        self._study = study
        self._fresh_reads = fresh_reads
        self._synced = False  # read the store at least once
        self._pending: tuple[int, list[dict[str, Any]]] | None = None
        self._lock = threading.Lock()

    @property
    def study_name(self) -> str:
        return self._study

    def read_logs(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None and pending[0] == log_number_from:
            return pending[1]
        if pending is None and self._synced and not self._fresh_reads:
            return []
        self._synced = True
        logs: list[dict[str, Any]] = []
        while True:
            page = self._service.read_logs(self._study, after=log_number_from + len(logs) - 1, limit=READ_PAGE)
            logs.extend(page)
            if len(page) < READ_PAGE:
                return logs

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        # Round-trip through JSON so the replay sees exactly what a reader of the store would.
        clean = json.loads(json.dumps(logs))
        first = self._service.append_logs(self._study, clean)
        with self._lock:
            self._pending = (first, clean)


def journal_storage(service: StudyService, name: str, *, fresh_reads: bool = True) -> JournalStorage:
    """An Optuna storage holding study ``name`` (pass it to ``optuna.create_study``/``load_study``)."""
    return JournalStorage(TreadleJournalBackend(service, name, fresh_reads=fresh_reads))


def open_study(service: StudyService, name: str, **kwargs: Any) -> optuna.Study:
    """The Optuna study ``name`` (NotFound if it does not exist); ``kwargs`` go to ``optuna.load_study``
    (``sampler=``, ``pruner=``) for callers that will add trials."""
    import optuna

    service.get_study(name)  # NotFound with a helpful message
    try:
        return optuna.load_study(study_name=name, storage=journal_storage(service, name), **kwargs)
    except KeyError as exc:  # the summary row exists but the journal has no create-study log
        raise NotFound(f"study {name!r} has no journal yet") from exc
