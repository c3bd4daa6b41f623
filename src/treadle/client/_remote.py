"""The HTTP backend: a generic proxy for any service, and a blob store over the server's blob routes.

Each proxy method is derived from the service's operation signature (see ``treadle.ops``):
arguments are validated and serialised by the same pydantic body model the server uses,
and the answer is parsed into the operation's return type.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError

from treadle.artifacts.base import BlobInfo, BlobStore, check_digest
from treadle.errors import CorruptBlob, InvalidArgument, NotFound, TreadleError, Unavailable, error_from_code
from treadle.ops import Service, body_model, operations, result_adapter

S = TypeVar("S", bound=Service)
TRANSIENT_STATUS = {502, 503, 504}


def raise_for_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        err = response.json()["error"]
        code, message = err["code"], err["message"]
    except Exception:
        code, message = "", response.text[:500] or response.reason_phrase
    if response.status_code in TRANSIENT_STATUS and code in ("", "UNAVAILABLE"):
        raise Unavailable(f"{response.request.url} answered {response.status_code}: {message}")
    raise error_from_code(code, message) if code else TreadleError(f"HTTP {response.status_code}: {message}")


def send(http: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        response = http.request(method, url, **kwargs)
    except httpx.TransportError as exc:
        raise Unavailable(f"cannot reach {http.base_url}: {exc}") from exc
    raise_for_error(response)
    return response


def _proxy_method(http: httpx.Client, service: type[Service], name: str) -> Callable[..., Any]:
    spec = operations(service)[name]
    body = body_model(service, spec)
    result = result_adapter(spec)
    url = f"/api/v1/{service.capability}/{name}"
    order = list(spec.parameters)

    def call(*args: Any, **kwargs: Any) -> Any:
        if len(args) > len(order):
            raise TypeError(f"{name}() takes at most {len(order)} positional arguments")
        kwargs.update(zip(order, args, strict=False))
        try:
            payload = body.model_validate(kwargs).model_dump_json(exclude_unset=True)
        except ValidationError as exc:
            raise InvalidArgument(f"{name}: {exc}") from None
        response = send(http, "POST", url, content=payload, headers={"content-type": "application/json"})
        return result.validate_json(response.content)

    call.__name__ = name
    call.__doc__ = getattr(service, name).__doc__
    return call


def remote_service(http: httpx.Client, service: type[S]) -> S:
    """An object with ``service``'s operations, each one an HTTP call."""
    proxy = type(f"Remote{service.__name__}", (), {"capability": service.capability})()
    for name in operations(service):
        setattr(proxy, name, _proxy_method(http, service, name))
    return proxy


class RemoteBlobStore(BlobStore):
    """Blobs through a treadle server: HEAD/PUT/GET ``/api/v1/blobs/{digest}``, streamed both ways."""

    listable = False

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.url = f"{http.base_url}api/v1/blobs"

    def exists(self, digest: str) -> bool:
        return self.size(digest) is not None

    def size(self, digest: str) -> int | None:
        check_digest(digest)
        try:
            response = self.http.head(f"/api/v1/blobs/{digest}")
        except httpx.TransportError as exc:
            raise Unavailable(f"cannot reach {self.http.base_url}: {exc}") from exc
        if response.status_code == 404:
            return None
        raise_for_error(response)
        return int(response.headers["x-blob-size"])

    def put_bytes(self, data: bytes) -> BlobInfo:
        digest = hashlib.sha256(data).hexdigest()
        if not self.exists(digest):
            send(self.http, "PUT", f"/api/v1/blobs/{digest}", content=data)
        return BlobInfo(digest, len(data))

    def put_stream(self, chunks: Iterable[bytes], expected: str | None = None) -> BlobInfo:
        if expected is None:  # we need the digest up front: spool once, then upload
            fd, tmp = tempfile.mkstemp()
            try:
                with os.fdopen(fd, "wb") as f:
                    for c in chunks:
                        f.write(c)
                return self.put_file(tmp)
            finally:
                os.unlink(tmp)
        size = 0

        def counted() -> Iterator[bytes]:
            nonlocal size
            for c in chunks:
                size += len(c)
                yield c

        send(self.http, "PUT", f"/api/v1/blobs/{check_digest(expected)}", content=counted())
        return BlobInfo(expected, size)

    def open(self, digest: str) -> Iterator[bytes]:
        check_digest(digest)
        try:
            with self.http.stream("GET", f"/api/v1/blobs/{digest}") as response:
                if response.status_code == 404:
                    raise NotFound(f"blob {digest} is not on the server")
                if response.status_code >= 400:
                    response.read()
                    raise_for_error(response)
                sha = hashlib.sha256()
                for chunk in response.iter_bytes():
                    sha.update(chunk)
                    yield chunk
        except httpx.TransportError as exc:
            raise Unavailable(f"download of {digest} failed: {exc}") from exc
        if sha.hexdigest() != digest:
            raise CorruptBlob(f"downloaded blob {digest} hashes to {sha.hexdigest()}")

    def delete(self, digest: str) -> None:
        raise InvalidArgument("blobs on a server are deleted by its garbage collector (treadle gc)")

    def list(self) -> Iterator[tuple[str, float]]:
        raise InvalidArgument("listing blobs is done on the server (treadle gc)")
