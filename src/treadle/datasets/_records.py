"""Records the dataset repository takes and returns."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from treadle.records import Record

DatasetKind = Literal["table", "files"]


class ColumnSchema(Record):
    name: str
    type: str  # Arrow's type string, e.g. "int64", "timestamp[us, tz=UTC]"
    nullable: bool = True


class Dataset(Record):
    name: str
    description: str | None = None
    created_at: int
    updated_at: int
    tags: dict[str, str] = Field(default_factory=dict)
    aliases: dict[str, int] = Field(default_factory=dict)  # alias -> version
    latest_version: int | None = None


class DatasetVersion(Record):
    """One immutable snapshot. ``digest`` addresses its content: the same files give the same digest."""

    name: str
    version: int
    digest: str
    kind: DatasetKind
    num_rows: int
    num_files: int
    size_bytes: int
    columns: list[ColumnSchema]
    pandera_schema: str | None = None  # the declared pandera schema (YAML) new versions can be held to
    stats: dict[str, Any] = Field(default_factory=dict)  # column -> statistics
    source: str | None = None
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    run_id: str | None = None
    created_by: str | None = None
    created_at: int
    aliases: list[str] = Field(default_factory=list)

    @property
    def uri(self) -> str:
        return f"datasets:/{self.name}/{self.version}"

    @property
    def manifest(self) -> str:
        return manifest_name(self.name, self.version)


def manifest_name(name: str, version: int) -> str:
    """The artifact manifest holding a version's files (parts or files, by logical path)."""
    return f"dataset/{name}/{version}"


class FileIndex(Record):
    """A version's files as three parallel columns: cheap to send and check for 100,000 files."""

    paths: list[str]
    digests: list[str]
    sizes: list[int]


class FileChange(Record):
    """A file that a new version adds or changes relative to its base version."""

    path: str
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class NewVersion(Record):
    """What :meth:`DatasetService.create_version` records: files as a change set against ``base``."""

    kind: DatasetKind
    base_version: int | None = None  # None: ``files`` is the whole version
    files: list[FileChange] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    num_rows: int = Field(ge=0)
    columns: list[ColumnSchema] = Field(default_factory=list)
    pandera_schema: str | None = None
    stats: dict[str, Any] = Field(default_factory=dict)
    source: str | None = None
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    run_id: str | None = None
    created_by: str | None = None


class CreateResult(Record):
    version: DatasetVersion
    created: bool  # False: the content equals the latest version's, which is returned


class ColumnChange(Record):
    name: str
    change: Literal["added", "removed", "type_changed"]
    before: str | None = None
    after: str | None = None


class StatShift(Record):
    column: str
    statistic: str
    before: float | None
    after: float | None


class DatasetDiff(Record):
    name: str
    before: int
    after: int
    kind: DatasetKind
    columns: list[ColumnChange] = Field(default_factory=list)
    key: list[str] = Field(default_factory=list)
    rows_before: int = 0
    rows_after: int = 0
    rows_added: int = 0
    rows_removed: int = 0
    rows_changed: int = 0
    files_added: list[str] = Field(default_factory=list)
    files_removed: list[str] = Field(default_factory=list)
    files_changed: list[str] = Field(default_factory=list)
    stats_shift: list[StatShift] = Field(default_factory=list)
    sample_added: list[dict[str, Any]] = Field(default_factory=list)
    sample_removed: list[dict[str, Any]] = Field(default_factory=list)
    sample_changed: list[dict[str, Any]] = Field(default_factory=list)


class DatasetUsage(Record):
    """Who consumed a dataset version: runs that logged it as an input and models registered from them."""

    runs: list[str] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)  # models:/name/version
    features: list[str] = Field(default_factory=list)  # feature view versions built on it: features:/name/N
