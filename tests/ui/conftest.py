"""UI fixtures: a seeded store, a real server on a free port, headless Chromium pages."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.ui.helpers import Seeded, seed
from treadle import Client
from treadle.server import create_app
from treadle.testing.server import serve

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Seeded]]:
    """A real uvicorn server (thread, free port) over a seeded SQLite store."""
    from treadle.server import create_app
    from treadle.testing.server import serve

    data = seed(tmp_path_factory.mktemp("ui-browser"))
    with serve(create_app(uri=data.uri, artifacts=data.artifacts)) as url:
        yield url, data


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page; JavaScript errors on it fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.set_default_timeout(10_000)
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


# Each HTTP test module gets its own seeded store and server (module scope).
@pytest.fixture(scope="module")
def data(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return seed(tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]))


@pytest.fixture(scope="module")
def http(data: Seeded) -> Iterator[httpx.Client]:
    with serve(create_app(uri=data.uri, artifacts=data.artifacts)) as url, httpx.Client(base_url=url) as c:
        yield c


@pytest.fixture(scope="module")
def client(data: Seeded) -> Client:
    return Client(uri=data.uri, artifacts=data.artifacts)
