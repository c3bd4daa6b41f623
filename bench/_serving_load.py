"""The load generator of bench/serving.py: closed-loop HTTP/1.1 clients on keep-alive connections.

Usage: python _serving_load.py SPEC.json OUT.json

SPEC: ``{"host", "port", "path", "bodies": [str, ...], "expect": [label, ...], "kind": "invocations"|
"oip", "concurrency", "duration_s", "warmup_s", "headers": {...}}``. It opens ``concurrency``
connections to the server, each sending one request at a time (the next as soon as the answer is
in), cycling through ``bodies`` (each a pre-encoded JSON body), for ``warmup_s`` + ``duration_s``.

It runs in its own process (its own interpreter and GIL), on uvloop when installed, and speaks
HTTP/1.1 over asyncio streams itself rather than through an HTTP client library: on a 2-core
machine shared with the server, a client library that spends several times more CPU per request
would cap and skew what it measures.

Counted: the answers completed inside the measured window (after the warm-up) and their latencies
(send to last body byte; also returned raw, in microseconds, so that rounds can be merged); errors
are non-200 answers, broken connections and timeouts (a connection that fails is reopened). Every
answer of the warm-up, and every 50th after it, is decoded and its predicted label compared with
``expect`` (``wrong`` counts mismatches). Stdlib only (+ uvloop).
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from typing import Any

TIMEOUT_S = 30.0
CHECK_EVERY = 50


def label_of(kind: str, body: bytes) -> Any:
    """The first predicted label in an answer body (``/invocations`` or OIP JSON)."""
    doc = json.loads(body)
    out = doc["outputs"][0]["data"] if kind == "oip" else doc["predictions"] if isinstance(doc, dict) else doc
    first = out[0]
    if isinstance(first, dict):  # a list of records: take the first value
        first = next(iter(first.values()))
    if isinstance(first, list):
        first = first[0]
    return first


class Stats:
    def __init__(self, start: float, warm_end: float, end: float) -> None:
        self.start, self.warm_end, self.end = start, warm_end, end
        self.latencies: list[float] = []
        self.errors = 0
        self.error_samples: list[str] = []
        self.warmup_requests = 0
        self.checked = 0
        self.wrong = 0
        self.wrong_samples: list[str] = []
        self.late = 0  # answers that completed after the window closed (not counted)

    def error(self, what: str) -> None:
        if time.perf_counter() >= self.warm_end:
            self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what[:300])


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked = None, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        return status, b"".join(parts)
    if length is None:
        raise ConnectionError(f"answer {status} without Content-Length")
    return status, await reader.readexactly(length)


async def connection(spec: dict[str, Any], requests: list[bytes], stats: Stats, offset: int) -> None:
    host, port, kind = spec["host"], spec["port"], spec["kind"]
    expect = spec["expect"]
    n = len(requests)
    i = offset
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while True:
        now = time.perf_counter()
        if now >= stats.end:
            break
        if writer is None:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError as exc:
                stats.error(f"connect: {exc}")
                await asyncio.sleep(0.05)
                continue
        assert reader is not None
        k = i % n
        i += 1
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(TIMEOUT_S):
                writer.write(requests[k])
                status, body = await read_response(reader)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError) as exc:
            stats.error(f"{type(exc).__name__}: {exc}")
            writer.close()
            reader = writer = None
            continue
        t1 = time.perf_counter()
        if status != 200:
            stats.error(f"HTTP {status}: {body[:200]!r}")
            continue
        in_warmup = t0 < stats.warm_end
        if in_warmup:
            stats.warmup_requests += 1
        elif t1 <= stats.end:
            stats.latencies.append(t1 - t0)
        else:
            stats.late += 1
        if in_warmup or i % CHECK_EVERY == 0:
            stats.checked += 1
            try:
                got = label_of(kind, body)
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                got = f"<undecodable: {exc}>"
            if got != expect[k]:
                stats.wrong += 1
                if len(stats.wrong_samples) < 5:
                    stats.wrong_samples.append(f"row {k}: expected {expect[k]!r}, got {got!r}: {body[:200]!r}")
    if writer is not None:
        writer.close()


def encode(spec: dict[str, Any]) -> list[bytes]:
    extra = "".join(f"{k}: {v}\r\n" for k, v in spec.get("headers", {}).items())
    out = []
    for body in spec["bodies"]:
        data = body.encode()
        head = (
            f"POST {spec['path']} HTTP/1.1\r\nHost: {spec['host']}:{spec['port']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n{extra}\r\n"
        )
        out.append(head.encode() + data)
    return out


def percentile(sorted_values: list[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile of already sorted values (NaN when there are none)."""
    if not sorted_values:
        return float("nan")
    idx = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[idx]


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    requests = encode(spec)
    start = time.perf_counter()
    warm_end = start + spec["warmup_s"]
    stats = Stats(start, warm_end, warm_end + spec["duration_s"])
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    conc = spec["concurrency"]
    await asyncio.gather(*(connection(spec, requests, stats, j * 7) for j in range(conc)))
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    lat = sorted(stats.latencies)
    window = spec["duration_s"]
    return {
        "concurrency": conc,
        "duration_s": window,
        "warmup_s": spec["warmup_s"],
        "requests": len(lat),
        "requests_per_s": len(lat) / window,
        "p50_ms": percentile(lat, 50) * 1000,
        "p90_ms": percentile(lat, 90) * 1000,
        "p99_ms": percentile(lat, 99) * 1000,
        "max_ms": (lat[-1] * 1000) if lat else float("nan"),
        "mean_ms": (sum(lat) / len(lat) * 1000) if lat else float("nan"),
        "errors": stats.errors,
        "error_samples": stats.error_samples,
        "warmup_requests": stats.warmup_requests,
        "late": stats.late,
        "checked": stats.checked,
        "wrong": stats.wrong,
        "wrong_samples": stats.wrong_samples,
        "client_cpu_s": (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime),
        "elapsed_s": time.perf_counter() - start,
        "latencies_us": [round(v * 1e6) for v in stats.latencies],
    }


def main() -> None:
    spec_path, out_path = sys.argv[1:3]
    with open(spec_path) as f:
        spec = json.load(f)
    try:
        import uvloop

        result = uvloop.run(run(spec))
        result["loop"] = "uvloop"
    except ImportError:
        result = asyncio.run(run(spec))
        result["loop"] = "asyncio"
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
