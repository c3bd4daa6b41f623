"""Webhooks deliver signed events to a real local HTTP receiver, retry, and log every attempt."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from treadle import Client
from treadle.errors import InvalidArgument, NotFound
from treadle.server import create_app
from treadle.testing.server import free_port, serve


class Receiver:
    """A real HTTP endpoint that records requests and fails the first ``fail_first`` of them."""

    def __init__(self, fail_first: int = 0, port: int | None = None) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = 500 if len(receiver.requests) <= receiver.fail_first else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"nope" if status == 500 else b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def client(tmp_path: Path) -> Client:
    return Client(f"sqlite:///{tmp_path / 'w.db'}", str(tmp_path / "art"))


def _register(client: Client, name: str) -> None:
    exp = client.tracking.create_experiment(f"e-{uuid.uuid4().hex[:8]}")
    run = client.tracking.create_run(exp.id)
    client.log_text(run.id, "flavor: sklearn\n", "model/treadle-model.yaml")
    client.registry.create_version(name, f"runs:/{run.id}/model")
    client.registry.set_alias(name, "champion", 1, actor="ana")


def _verify(secret: str, headers: dict[str, str], body: bytes) -> None:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-treadle-signature"], expected)


def test_signed_delivery_with_retry_and_log(client: Client) -> None:
    receiver = Receiver(fail_first=1)
    try:
        hook = client.webhooks.create_webhook(receiver.url, ["model_version_created", "alias_moved"])
        assert hook.secret and len(hook.secret) >= 32
        assert client.webhooks.list_webhooks()[0].secret is None  # shown once
        _register(client, "churn")
        assert client.webhooks.deliver_pending() == 2
        bodies = [json.loads(body) for _, body in receiver.requests]
        assert [b["kind"] for b in bodies] == ["model_version_created", "model_version_created", "alias_moved"]
        assert bodies[-1]["payload"] == {
            "name": "churn",
            "alias": "champion",
            "from_version": None,
            "to_version": 1,
            "actor": "ana",
        }
        for headers, body in receiver.requests:
            _verify(hook.secret, headers, body)
            assert headers["x-treadle-event"] == json.loads(body)["kind"]
        log = client.webhooks.list_deliveries(hook.id)
        assert [(d.attempt, d.status_code, d.delivered) for d in log] == [
            (1, 500, False),
            (2, 200, True),
            (1, 200, True),
        ]
        assert client.webhooks.deliver_pending() == 0  # nothing is sent twice
        assert len(receiver.requests) == 3
    finally:
        receiver.close()


def test_unreachable_receiver_keeps_events_until_it_comes_back(client: Client) -> None:
    port = free_port()
    hook = client.webhooks.create_webhook(f"http://127.0.0.1:{port}/hook", ["*"])
    _register(client, "fraud")
    assert client.webhooks.deliver_pending() == 0
    failures = client.webhooks.list_deliveries(hook.id)
    assert failures and not any(d.delivered for d in failures) and "Connect" in (failures[0].error or "")
    receiver = Receiver(port=port)
    try:
        delivered = client.webhooks.deliver_pending()
        kinds = [json.loads(body)["kind"] for _, body in receiver.requests]
        # Every event ("*"), in outbox order, each once.
        assert kinds == ["experiment_created", "run_started", "model_created", "model_version_created", "alias_moved"]
        assert delivered == 5
    finally:
        receiver.close()


def test_bad_webhooks(client: Client) -> None:
    with pytest.raises(InvalidArgument):
        client.webhooks.create_webhook("ftp://example/x", ["*"])
    with pytest.raises(InvalidArgument):
        client.webhooks.create_webhook("http://127.0.0.1:9/x", [])
    with pytest.raises(NotFound):
        client.webhooks.delete_webhook(12345)


@pytest.mark.slow
def test_server_dispatches_in_the_background(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TREADLE_WEBHOOK_INTERVAL_S", "0.2")
    receiver = Receiver()
    app = create_app(uri=f"sqlite:///{tmp_path / 's.db'}", artifacts=str(tmp_path / "art"))
    try:
        with serve(app) as url:
            remote = Client(url)
            hook = remote.webhooks.create_webhook(receiver.url, ["alias_moved"])
            _register(remote, "remote-model")
            deadline = time.monotonic() + 20
            while not receiver.requests and time.monotonic() < deadline:
                time.sleep(0.1)
            assert len(receiver.requests) == 1
            headers, body = receiver.requests[0]
            _verify(hook.secret or "", headers, body)
            assert json.loads(body)["payload"]["alias"] == "champion"
    finally:
        receiver.close()
