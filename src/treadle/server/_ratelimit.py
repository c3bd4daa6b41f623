"""Rate limiting of failed sign-ins (UI logins and Basic passwords), per user name and per client.

After ``max_failures`` failures within ``window_s`` a key is refused until the oldest of them
ages out; a success clears the user's count. In memory, per process: with N workers an attacker
gets N times the budget, still a handful of guesses a minute instead of thousands a second.
"""

from __future__ import annotations

import threading
import time
from collections import deque


class LoginLimiter:
    def __init__(self, max_failures: int = 5, window_s: float = 300.0, per_client: int = 20) -> None:
        self.window_s = window_s
        self._limits = {"user": max_failures, "client": per_client}
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, user: str | None, client: str) -> int:
        """Seconds until ``user`` from ``client`` may try again (0: now)."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key in self._keys(user, client):
                times = self._recent(key, now)
                if len(times) >= self._limits[key[0]]:
                    wait = max(wait, times[0] + self.window_s - now)
        return int(wait) + 1 if wait > 0 else 0

    def failed(self, user: str | None, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > 100_000:  # a flood of distinct names: forget the oldest state
                self._failures.clear()
            for key in self._keys(user, client):
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, user: str) -> None:
        with self._lock:
            self._failures.pop(("user", user), None)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    @staticmethod
    def _keys(user: str | None, client: str) -> list[tuple[str, str]]:
        return [("client", client)] + ([("user", user)] if user else [])
