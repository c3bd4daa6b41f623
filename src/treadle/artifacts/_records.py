"""Records of the artifact store."""

from __future__ import annotations

from treadle.records import Record


class ArtifactFile(Record):
    """One file of a manifest: its logical path and the blob it points at."""

    path: str
    digest: str
    size: int
    created_at: int
