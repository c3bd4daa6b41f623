"""Cron arithmetic for schedules, in the schedule's own time zone (croniter does the calendar).

Times cross this module as epoch milliseconds, like every other timestamp in the store. A schedule
keeps ``next_at``; when a tick finds it due, :func:`latest_due` gives the one slot to fire — the
latest slot not after now — so a scheduler that was down for a day fires once, not once per missed
slot, and the slot's ISO time is the fire key that makes a second fire of it a no-op.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from treadle.errors import InvalidArgument

ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def zone(timezone: str) -> ZoneInfo:
    """The IANA zone named ``timezone``, or InvalidArgument naming it."""
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidArgument(
            f"unknown time zone {timezone!r}: use an IANA name such as 'UTC' or 'Europe/Paris'"
        ) from None


def validate_cron(expr: str, timezone: str = "UTC") -> str:
    """The expression normalised (single spaces), if it is a 5-field cron or an @alias; else InvalidArgument."""
    zone(timezone)
    norm = " ".join(expr.split())
    ok = norm in ALIASES if norm.startswith("@") else len(norm.split(" ")) == 5 and croniter.is_valid(norm)
    if not ok:
        raise InvalidArgument(
            f"bad cron expression {expr!r}: give 5 fields 'minute hour day-of-month month day-of-week' "
            f"(e.g. '0 3 * * *' for 03:00 daily, '*/15 * * * *' every 15 minutes) or one of {', '.join(ALIASES)}"
        )
    return norm


def _at(ms: int, timezone: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=zone(timezone))


def _ms(when: dt.datetime) -> int:
    return int(when.timestamp() * 1000)


def next_after(expr: str, timezone: str, now_ms: int) -> int:
    """The first slot strictly after ``now_ms``."""
    try:
        return _ms(croniter(expr, _at(now_ms, timezone)).get_next(dt.datetime))
    except (ValueError, OverflowError) as exc:  # past year 9999, or a date the calendar never reaches
        raise InvalidArgument(f"cron {expr!r} has no slot after {now_ms} ms: {exc}") from None


def latest_due(expr: str, timezone: str, now_ms: int) -> int:
    """The latest slot at or before ``now_ms`` (a slot exactly at now counts)."""
    try:
        start = _at(now_ms, timezone) + dt.timedelta(milliseconds=1)
        return _ms(croniter(expr, start).get_prev(dt.datetime))
    except (ValueError, OverflowError) as exc:
        raise InvalidArgument(f"cron {expr!r} has no slot before {now_ms} ms: {exc}") from None


def iso(ms: int) -> str:
    """``2026-01-01T03:00:00Z``: a slot's fire key and what the run's trigger info shows."""
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
