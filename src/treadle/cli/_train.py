"""``treadle train``: a distributed training launch."""

from __future__ import annotations
