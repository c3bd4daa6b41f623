"""Names and aliases of registered objects (models, datasets): one rule, one message."""

from __future__ import annotations

import re
from collections.abc import Iterable

from treadle.errors import InvalidArgument

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,255}$")
ALIAS_RE = re.compile(r"^[a-z][a-z0-9_\-]{0,127}$")
_VERSION_ALIAS = re.compile(r"^v\d+$")


def check_name(name: str, what: str) -> str:
    """``name`` if it is 1-256 letters, digits, '_', '-' or '.' starting with a letter or digit."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidArgument(
            f"invalid {what} name {name!r}: use 1-256 letters, digits, '_', '-' or '.', starting with a letter or digit"
        )
    return name


def check_alias(alias: str, reserved: Iterable[str] = ("latest",)) -> str:
    """``alias`` if it is a lowercase identifier that is neither ``v<N>`` nor in ``reserved``."""
    if not isinstance(alias, str) or not ALIAS_RE.match(alias):
        raise InvalidArgument(
            f"invalid alias {alias!r}: use lowercase letters, digits, '_' or '-', starting with a letter"
        )
    fixed = tuple(reserved)
    if alias in fixed or _VERSION_ALIAS.match(alias):
        meanings = ", ".join(f"'{r}'" for r in fixed)
        raise InvalidArgument(f"alias {alias!r} is reserved ({meanings} and 'v<N>' always mean what they say)")
    return alias
