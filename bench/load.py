"""Concurrency benchmark: single-resource reads and $everything at 1, 16 and 64 concurrent keep-alive
clients, the full path (auth → policy → redaction → audit group commit → response) against a bare
route that reads the same record from the same store (no auth, no policy, no audit), same run.

Targets: full/bare ≥ 0.8 in requests/s, and full-path p99 ≤ 4 × p50, at every level. Beside them,
each server's own CPU time per request (its processes' user + system time over the blocks, from
/proc) and their ratio, bare/full: on a machine shared with other work, requests per second move
with the neighbours' load, CPU per request much less. (With PostgreSQL, the database server's CPU
is not in either figure.)

Both servers run as `gateway serve --workers N` does (uvicorn, N worker processes; N = the cores
of this machine unless --workers says otherwise) on 127.0.0.1. The load comes from one asyncio
process of plain HTTP/1.1 keep-alive connections (no client library in the way); the two servers
are measured in alternating blocks so that drift on a shared machine hits both alike.

Run: .venv/bin/python -m bench.load [--clients 1,16,64] [--seconds 4] [--rounds 2] [--workers N]
     [--database-url URL]   (default: a fresh SQLite file)
     --split: instead, where a request's time goes — each request sequentially through the ASGI app
     in this process, with the real audit append and with it replaced by a no-op, beside one
     durable append alone (medians of 300)
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.api import load_record
from bench.servers import Server
from gateway.api.app import create_app
from gateway.audit.model import AuditEntry
from gateway.logging import configure
from gateway.testing import auth_headers, initialised_settings
from gateway.wiring import build_gateway


# -- the load generator ---------------------------------------------------------------------------
async def _connection(port: int, request: bytes, stop_at: float, latencies: list[float], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if status != 200:
                errors.append(head[:12].decode())
    finally:
        writer.close()


async def _drive(port: int, path: str, headers: dict[str, str], clients: int, seconds: float
                 ) -> tuple[float, list[float], list[str]]:
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
    latencies: list[float] = []
    errors: list[str] = []
    start = time.perf_counter()
    await asyncio.gather(*(_connection(port, request, start + seconds, latencies, errors) for _ in range(clients)))
    return len(latencies) / (time.perf_counter() - start), latencies, errors


def drive(port: int, path: str, headers: dict[str, str], clients: int, seconds: float
          ) -> tuple[float, list[float], list[str]]:
    return asyncio.run(_drive(port, path, headers, clients, seconds))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# -- orchestration --------------------------------------------------------------------------------
def split(database_url: str | None) -> None:
    """The audit append's share of a request: the same requests with and without it."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = initialised_settings(Path(tmp), database_url, audit_checkpoint_every=1000, policy_poll_seconds=0)
        gw = build_gateway(settings)
        patient_id, practice, _ = load_record(gw, extra_items=170)
        condition = next(s for s in gw.store.compartment(patient_id) if s.resource_type == "Condition")
        headers = auth_headers(settings, "gp", practice)
        app = create_app(gw)
        real = gw.audit.append

        def no_op(record: dict) -> AuditEntry:  # type: ignore[type-arg]
            return AuditEntry(seq=0, time=None, prev_hash="", hash="", record=record)  # type: ignore[arg-type]

        async def median_ms(path: str, n: int = 300) -> float:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                times = []
                for i in range(n + 30):
                    start = time.perf_counter()
                    response = await client.get(path, headers=headers)
                    elapsed = time.perf_counter() - start
                    assert response.status_code == 200, response.text[:200]
                    if i >= 30:
                        times.append(elapsed)
            return statistics.median(times) * 1e3

        engine = "SQLite" if not database_url else "PostgreSQL"
        for name, path in (("read", f"/fhir/Condition/{condition.id}"),
                           ("$everything", f"/fhir/Patient/{patient_id}/$everything")):
            gw.audit.append = real  # type: ignore[method-assign]
            full = asyncio.run(median_ms(path))
            gw.audit.append = no_op  # type: ignore[method-assign]
            without = asyncio.run(median_ms(path))
            gw.audit.append = real  # type: ignore[method-assign]
            start = time.perf_counter()
            for _ in range(100):
                real({"interaction": "probe"})
            alone = (time.perf_counter() - start) * 10
            print(f"{engine} {name:12} in-process median: full {full:.2f} ms; audit append replaced by a no-op "
                  f"{without:.2f} ms; one durable append alone {alone:.2f} ms")
        gw.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1,16,64")
    parser.add_argument("--seconds", type=float, default=4.0, help="per block")
    parser.add_argument("--rounds", type=int, default=2, help="alternating blocks per variant and level")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--only", choices=("read", "everything"), default=None)
    parser.add_argument("--split", action="store_true", help="where a request's time goes (see above)")
    args = parser.parse_args()
    if args.split:
        configure("warning")
        split(args.database_url)
        return
    configure("warning")
    levels = [int(c) for c in args.clients.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        settings = initialised_settings(directory, args.database_url, audit_checkpoint_every=1000)
        gw = build_gateway(settings)
        patient_id, practice, size = load_record(gw, extra_items=170)
        condition = next(s for s in gw.store.compartment(patient_id) if s.resource_type == "Condition")
        headers = auth_headers(settings, "gp", practice)
        gw.close()
        paths = {"read": f"/fhir/Condition/{condition.id}", "everything": f"/fhir/Patient/{patient_id}/$everything"}
        full = Server("bench.servers:full_app", directory, args.database_url, workers=args.workers)
        bare = Server("bench.servers:bare_app", directory, args.database_url, workers=args.workers)
        try:
            full.wait(paths["read"], headers)
            bare.wait(paths["read"], {})
            print(f"concurrency: {args.workers} worker processes per server, {os.cpu_count()} cores; "
                  f"{'SQLite' if not args.database_url else 'PostgreSQL'}; $everything of {size} resources; "
                  f"{args.rounds} x {args.seconds:g} s blocks per variant and level, alternating")
            print(f"{'request':<11}{'clients':>8} | {'full req/s':>10}{'p50 ms':>8}{'p99 ms':>8}{'CPU ms':>8} | "
                  f"{'bare req/s':>10}{'p50 ms':>8}{'p99 ms':>8}{'CPU ms':>8} | {'ratio':>6}{'p99/p50':>8}"
                  f"  targets (≥0.8, ≤4) | {'CPU ratio':>9}")
            for name, path in paths.items():
                if args.only and name != args.only:
                    continue
                for _, port, hdrs in ((full, full.port, headers), (bare, bare.port, {})):  # warm up
                    drive(port, path, hdrs, 4, 1.0)
                for clients in levels:
                    got: dict[str, tuple[list[float], list[float], list[str]]] = {"full": ([], [], []),
                                                                                 "bare": ([], [], [])}
                    cpu = {"full": 0.0, "bare": 0.0}
                    for _ in range(args.rounds):
                        for variant, server, hdrs in (("full", full, headers), ("bare", bare, {})):
                            before = server.cpu_seconds()
                            rate, lat, errors = drive(server.port, path, hdrs, clients, args.seconds)
                            cpu[variant] += server.cpu_seconds() - before
                            got[variant][0].append(rate)
                            got[variant][1].extend(lat)
                            got[variant][2].extend(errors)
                    fr, br = statistics.median(got["full"][0]), statistics.median(got["bare"][0])
                    f50, f99 = pct(got["full"][1], 0.5), pct(got["full"][1], 0.99)
                    b50, b99 = pct(got["bare"][1], 0.5), pct(got["bare"][1], 0.99)
                    # The servers' own CPU per request: what the ratio would be on cores of their own.
                    fc, bc = (cpu[v] / max(1, len(got[v][1])) for v in ("full", "bare"))
                    ratio, spread = fr / br, f99 / f50
                    verdict = ("met" if ratio >= 0.8 else "MISSED") + "/" + ("met" if spread <= 4 else "MISSED")
                    errors = got["full"][2] + got["bare"][2]
                    print(f"{name:<11}{clients:>8} | {fr:>10.0f}{f50 * 1e3:>8.1f}{f99 * 1e3:>8.1f}{fc * 1e3:>8.2f} | "
                          f"{br:>10.0f}{b50 * 1e3:>8.1f}{b99 * 1e3:>8.1f}{bc * 1e3:>8.2f} | {ratio:>6.2f}{spread:>8.1f}"
                          f"  {verdict:<19} | {bc / fc if fc else float('nan'):>9.2f}"
                          + (f"  ({len(errors)} non-200: {sorted(set(errors))[:3]})" if errors else ""))
        finally:
            full.close()
            bare.close()


if __name__ == "__main__":
    main()
