"""Content-addressed blobs over fsspec, and manifests mapping logical paths to digests."""

from treadle.artifacts._fsspec import FsspecBlobStore
from treadle.artifacts._manifest import (
    check_uploaded,
    copy_manifest,
    delete_manifest,
    delete_unreferenced,
    manifest_digests,
    record_files,
    select_files,
)
from treadle.artifacts._paths import clean_path
from treadle.artifacts._records import ArtifactFile
from treadle.artifacts._service import ArtifactService, GcReport
from treadle.artifacts.base import BlobInfo, BlobStore, hash_file, open_blob_store

__all__ = [
    "ArtifactFile",
    "ArtifactService",
    "BlobInfo",
    "BlobStore",
    "FsspecBlobStore",
    "GcReport",
    "check_uploaded",
    "clean_path",
    "copy_manifest",
    "delete_manifest",
    "delete_unreferenced",
    "hash_file",
    "manifest_digests",
    "open_blob_store",
    "record_files",
    "select_files",
]
