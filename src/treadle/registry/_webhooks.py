"""Webhooks: signed POSTs of outbox events to subscribers, with retries and a delivery log.

Delivery is at least once: a receiver de-duplicates on ``X-Treadle-Delivery`` (the event id).
Each request carries ``X-Treadle-Signature: sha256=<hex>``, the HMAC-SHA256 of the raw body
under the webhook's secret, which is shown once when the webhook is created.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
import uuid
from typing import Any, ClassVar

import httpx
import orjson
from sqlalchemy import delete, func, insert, or_, select, update

from treadle.errors import InvalidArgument, NotFound
from treadle.events import EventService, latest_event_id
from treadle.ops import Service, operation
from treadle.records import Record
from treadle.registry import _tables as t
from treadle.store import Store, now_ms

log = logging.getLogger("treadle.webhooks")
ATTEMPTS_PER_PASS = 3
MAX_ATTEMPTS = 10  # per event; then the event is logged as given up and the webhook moves on
LEASE_MS = 60_000


class Webhook(Record):
    id: int
    url: str
    event_kinds: list[str]
    active: bool
    cursor: int
    created_at: int
    secret: str | None = None  # only in the answer to create_webhook


class Delivery(Record):
    id: int
    webhook_id: int
    event_id: int
    attempt: int
    status_code: int | None
    error: str | None
    delivered: bool
    at: int


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookService(Service):
    """Subscriptions to outbox event kinds, and their delivery."""

    capability: ClassVar[str] = "webhooks"

    def __init__(self, store: Store, timeout_s: float = 10.0) -> None:
        self._store = store
        self._events = EventService(store)
        self._owner = uuid.uuid4().hex
        self._http = httpx.Client(timeout=timeout_s)

    @operation
    def create_webhook(
        self, url: str, event_kinds: list[str], secret: str | None = None, from_now: bool = True
    ) -> Webhook:
        """Subscribe ``url`` to events of ``event_kinds`` (``["*"]`` for all); the secret is shown only here."""
        if not url.startswith(("http://", "https://")):
            raise InvalidArgument(f"webhook url must be http(s)://..., got {url[:100]!r}")
        if not event_kinds:
            raise InvalidArgument("give at least one event kind, or ['*'] for every event")
        secret = secret or secrets.token_urlsafe(32)
        with self._store.write() as conn:
            cursor = latest_event_id(conn) if from_now else 0
            result = conn.execute(
                insert(t.webhooks).values(
                    url=url,
                    secret=secret,
                    event_kinds=sorted(set(event_kinds)),
                    active=True,
                    cursor=cursor,
                    created_at=now_ms(),
                )
            )
            assert result.inserted_primary_key is not None
            hook = self._get(conn, int(result.inserted_primary_key[0]))
        return hook.model_copy(update={"secret": secret})

    @operation
    def list_webhooks(self) -> list[Webhook]:
        """Every webhook (without secrets)."""
        with self._store.read() as conn:
            return [self._record(r) for r in conn.execute(select(t.webhooks).order_by(t.webhooks.c.id))]

    @operation
    def delete_webhook(self, webhook_id: int) -> None:
        """Remove a webhook and its delivery log."""
        with self._store.write() as conn:
            self._get(conn, webhook_id)
            conn.execute(delete(t.webhooks).where(t.webhooks.c.id == webhook_id))

    @operation
    def list_deliveries(self, webhook_id: int, limit: int = 100) -> list[Delivery]:
        """The newest delivery attempts of a webhook, oldest first."""
        d = t.webhook_deliveries
        with self._store.read() as conn:
            self._get(conn, webhook_id)
            rows = conn.execute(
                select(d).where(d.c.webhook_id == webhook_id).order_by(d.c.id.desc()).limit(limit)
            ).all()
        return [Delivery.model_validate(dict(r._mapping)) for r in reversed(rows)]

    @operation
    def deliver_pending(self, max_events: int = 100) -> int:
        """One delivery pass over every active webhook; returns how many events were delivered."""
        delivered = 0
        with self._store.read() as conn:
            hooks = list(conn.execute(select(t.webhooks.c.id).where(t.webhooks.c.active.is_(True))).scalars())
        for hook_id in hooks:
            if self._lease(hook_id):
                try:
                    delivered += self._deliver(hook_id, max_events)
                finally:
                    self._release(hook_id)
        return delivered

    # ------------------------------------------------------------------ internals
    def _get(self, conn: Any, webhook_id: int) -> Webhook:
        row = conn.execute(select(t.webhooks).where(t.webhooks.c.id == webhook_id)).first()
        if row is None:
            raise NotFound(f"webhook {webhook_id} does not exist")
        return self._record(row)

    @staticmethod
    def _record(row: Any) -> Webhook:
        return Webhook(
            id=row.id,
            url=row.url,
            event_kinds=list(row.event_kinds),
            active=row.active,
            cursor=row.cursor,
            created_at=row.created_at,
        )

    def _lease(self, hook_id: int) -> bool:
        now = now_ms()
        w = t.webhooks
        with self._store.write() as conn:
            result = conn.execute(
                update(w)
                .where(
                    w.c.id == hook_id,
                    or_(w.c.lease_until.is_(None), w.c.lease_until < now, w.c.lease_owner == self._owner),
                )
                .values(lease_owner=self._owner, lease_until=now + LEASE_MS)
            )
            return result.rowcount == 1

    def _release(self, hook_id: int) -> None:
        w = t.webhooks
        with self._store.write() as conn:
            conn.execute(
                update(w)
                .where(w.c.id == hook_id, w.c.lease_owner == self._owner)
                .values(lease_until=None, lease_owner=None)
            )

    def _deliver(self, hook_id: int, max_events: int) -> int:
        with self._store.read() as conn:
            row = conn.execute(select(t.webhooks).where(t.webhooks.c.id == hook_id)).one()
        kinds = None if "*" in row.event_kinds else list(row.event_kinds)
        page = self._events.read(after=row.cursor, kinds=kinds, limit=max_events)
        done = 0
        for event in page.events:
            body = orjson.dumps(event.model_dump())
            headers = {
                "content-type": "application/json",
                "x-treadle-event": event.kind,
                "x-treadle-delivery": str(event.id),
                "x-treadle-signature": sign(row.secret, body),
            }
            if not self._attempts(hook_id, event.id, row.url, body, headers):
                return done  # retried later; the cursor stays before this event
            done += 1
        if page.events or page.cursor != row.cursor:
            self._advance(hook_id, page.cursor if not page.events else page.events[-1].id)
        return done

    def _attempts(self, hook_id: int, event_id: int, url: str, body: bytes, headers: dict[str, str]) -> bool:
        d = t.webhook_deliveries
        with self._store.read() as conn:
            previous = int(
                conn.execute(
                    select(func.count()).where(d.c.webhook_id == hook_id, d.c.event_id == event_id)
                ).scalar_one()
            )
        delay = 0.2
        for attempt in range(previous + 1, previous + 1 + ATTEMPTS_PER_PASS):
            status, error = None, None
            try:
                response = self._http.post(url, content=body, headers=headers)
                status = response.status_code
                ok = 200 <= status < 300
                error = None if ok else f"HTTP {status}"  # never the body: it may hold another host's data
            except httpx.HTTPError as exc:
                ok, error = False, f"{type(exc).__name__}: {exc}"
            with self._store.write() as conn:
                conn.execute(
                    insert(d).values(
                        webhook_id=hook_id,
                        event_id=event_id,
                        attempt=attempt,
                        status_code=status,
                        error=error,
                        delivered=ok,
                        at=now_ms(),
                    )
                )
            if ok:
                self._advance(hook_id, event_id)
                return True
            if attempt >= MAX_ATTEMPTS:
                log.warning("webhook %s gave up on event %s after %s attempts: %s", hook_id, event_id, attempt, error)
                self._advance(hook_id, event_id)
                return True
            time.sleep(delay)
            delay *= 2
        return False

    def _advance(self, hook_id: int, cursor: int) -> None:
        w = t.webhooks
        with self._store.write() as conn:
            conn.execute(update(w).where(w.c.id == hook_id, w.c.cursor < cursor).values(cursor=cursor))


class WebhookDispatcher:
    """A background thread that runs delivery passes every ``interval_s`` (started by the server)."""

    def __init__(self, service: WebhookService, interval_s: float = 2.0) -> None:
        self._service = service
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="treadle-webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._service.deliver_pending()
            except Exception:  # keep the loop alive; the delivery log has the details
                log.exception("webhook delivery pass failed")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
