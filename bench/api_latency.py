"""Latency of `GET /v1/subscribers/{id}/missions` (the self-care app's call) on the embedded default (SQLite + local
lake), served as an operator serves it - `questline serve` (uvicorn, one process) in its own process on 127.0.0.1 -
under an open-loop load at a fixed rate (default 500 requests/s). Target (DESIGN.md): p99 <= 20 ms at 500 req/s on a
2-core machine.

The state is built the way `questline demo` builds it: a simulated operator (default 10,000 subscribers x 30 days,
ending yesterday so that missions are still running now), its sources synced, scored half way, missions generated,
the rest of the period played through the engine, then an `app` API key. Requests go to subscribers drawn at random
from those who hold missions, and a share (default 10%) to subscribers who hold none.

Each request's latency runs from the time it was *scheduled* to be sent to its response, so a server that stalls
shows as latency, not as a lower rate (no coordinated omission). The baseline, measured in the same run against the
same server with the same load, is `GET /healthz` (no key, no database): the floor of uvicorn + FastAPI + this load
generator. The two are run in alternating rounds so that a noisy neighbour hits them alike. The load generator
(asyncio, one process; a minimal keep-alive HTTP/1.1 client on asyncio streams by default, since httpx costs ~4 ms of
CPU a request and cannot send 500/s itself - `--client httpx` to see it) shares the machine's cores with the server;
its own CPU use is printed.

    .venv/bin/python bench/api_latency.py [--subscribers 10000] [--days 30] [--rate 500] [--duration 10]
        [--rounds 3] [--warmup 5] [--workers 1] [--home DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from sqlalchemy import select

from questline.api.keys import Scope, create
from questline.config import load_settings
from questline.engine.service import run_pending
from questline.kit.time import utcnow
from questline.missions import queries
from questline.missions.service import run_generation
from questline.models import Assignment
from questline.pipeline.run import gamification_stage
from questline.runtime import Runtime
from questline.scoring.service import run_scoring
from questline.simulate import simulate
from questline.sources import service
from questline.sources.sync import sync

STATE = "bench-api-latency.json"
HEALTH = "/healthz"


# ---- the state -------------------------------------------------------------------------------------------------------


def build(home: Path, subscribers: int, days: int, seed: int) -> dict[str, object]:
    """The demo's state in `home`; returns the app key and who holds missions (kept in `home` for --home reruns)."""
    saved = home / STATE
    if saved.exists():
        print(f"reusing the state in {home}")
        return json.loads(saved.read_text())
    rt = Runtime.open(load_settings(home=home))
    start = dt.date.today() - dt.timedelta(days=days)
    midway = start + dt.timedelta(days=days // 2)
    began = time.perf_counter()
    feeds = home / "operator"
    truth = simulate(feeds, subscribers=subscribers, days=days, seed=seed, start=start)
    with rt.db.session() as session:
        for spec in service.load_document(feeds / "sources.yaml"):
            service.save(session, spec)
    sync(rt)
    run_scoring(rt, midway)
    generation = run_generation(rt, midway)
    engine = run_pending(rt)
    gamification_stage(rt, utcnow())
    with rt.db.session() as session:
        key = create(session, [Scope.APP], name="bench")
        holders = sorted(set(session.scalars(select(Assignment.subscriber_id).where(~Assignment.control))))
        assignments = session.query(Assignment).count()
    everyone = sorted(json.loads((feeds / "truth.json").read_text())["personas"])
    sample = random.Random(seed).sample(holders, min(200, len(holders)))
    shown = [len(queries.subscriber_missions(rt, s)) for s in sample]
    rt.db.engine.dispose()
    state: dict[str, object] = {
        "key": key,
        "holders": holders,
        "others": sorted(set(everyone) - set(holders)),
        "summary": (
            f"{truth.subscribers:,} subscribers x {days} days from {start}, {sum(truth.events.values()):,} events; "
            f"scored and {generation.assigned:,} missions generated as of {midway}; engine: "
            f"{engine.completed:,} completed, {engine.expired:,} expired; {assignments:,} assignment rows; "
            f"{len(holders):,} subscribers hold missions, the app shows them "
            f"{sum(shown) / max(len(shown), 1):.1f} each on average (max {max(shown, default=0)}); "
            f"built in {time.perf_counter() - began:.0f}s"
        ),
    }
    saved.write_text(json.dumps(state))
    return state


# ---- the server ------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(home: Path, port: int, workers: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    command = [str(Path(sys.executable).parent / "questline"), "--home", str(home), "serve", "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers)]  # fmt: skip
    what = f"`questline serve --workers {workers}` (uvicorn, access log at info as the CLI sets it)"
    env = os.environ | {"QUESTLINE_HOME": str(home)}
    server = subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{HEALTH}", timeout=1).status_code == 200:
                return server, what
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit(f"the server did not come up; see {log}")


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its descendants (uvicorn's workers), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


# ---- the load --------------------------------------------------------------------------------------------------------


class Result:
    def __init__(self) -> None:
        self.latencies: list[float] = []  # ms, from the scheduled send time
        self.lags: list[float] = []  # ms, from the scheduled to the actual send (the load generator's own delay)
        self.errors = 0
        self.sent = 0
        self.elapsed = 0.0  # s, from the first scheduled send to the last response
        self.server_cpu = 0.0
        self.client_cpu = 0.0
        self.p99s: list[float] = []


class RawClient:
    """HTTP/1.1 GETs over a pool of keep-alive asyncio connections: the least a Python client can spend per request
    (httpx spends ~4 ms of CPU per request here, so it cannot itself send 500/s on one core - see --client)."""

    def __init__(self, host: str, port: int, key: str, connections: int) -> None:
        self.host, self.port, self.limit = host, port, connections
        self.head = f"Host: {host}:{port}\r\nAuthorization: Bearer {key}\r\n\r\n".encode()
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        self.opened = 0

    async def get(self, path: str) -> int:
        if self.idle.empty() and self.opened < self.limit:
            self.opened += 1
            connection = await asyncio.open_connection(self.host, self.port)
        else:
            connection = await self.idle.get()
        reader, writer = connection
        try:
            writer.write(f"GET {path} HTTP/1.1\r\n".encode() + self.head)
            header = await reader.readuntil(b"\r\n\r\n")
            status = int(header[9:12])
            length = next(
                int(line[15:]) for line in header.lower().split(b"\r\n") if line.startswith(b"content-length:")
            )
            await reader.readexactly(length)
        except BaseException:
            self.opened -= 1
            writer.close()
            raise
        self.idle.put_nowait(connection)
        return status

    async def aclose(self) -> None:
        while not self.idle.empty():
            self.idle.get_nowait()[1].close()


class HttpxClient:
    def __init__(self, host: str, port: int, key: str, connections: int) -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        headers = {"Authorization": f"Bearer {key}"}
        self.client = httpx.AsyncClient(base_url=f"http://{host}:{port}", headers=headers, limits=limits, timeout=30)

    async def get(self, path: str) -> int:
        return (await self.client.get(path)).status_code

    async def aclose(self) -> None:
        await self.client.aclose()


Client = RawClient | HttpxClient


async def one(client: Client, path: str, scheduled: float, result: Result | None) -> None:
    lag = time.perf_counter() - scheduled
    try:
        ok = await client.get(path) == 200
    except (OSError, asyncio.IncompleteReadError, StopIteration, ValueError, httpx.HTTPError):
        ok = False
    if result is not None:
        result.latencies.append((time.perf_counter() - scheduled) * 1000)
        result.lags.append(lag * 1000)
        result.errors += not ok


async def drive(client: Client, paths: Iterator[str], rate: float, seconds: float, result: Result | None) -> None:
    """Open loop: request n is sent at start + n / rate whatever the earlier ones are doing."""
    n_requests = int(rate * seconds)
    tasks = []
    start = time.perf_counter() + 0.01
    for n in range(n_requests):
        scheduled = start + n / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(client, next(paths), scheduled, result)))
    await asyncio.gather(*tasks)
    if result is not None:
        result.sent += n_requests
        result.elapsed += time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def load(
    port: int, key: str, paths: dict[str, list[str]], args: argparse.Namespace, pid: int
) -> dict[str, Result]:
    kind = RawClient if args.client == "raw" else HttpxClient
    client = kind("127.0.0.1", port, key, args.connections)
    results = {name: Result() for name in paths}
    cycles = {name: itertools.cycle(urls) for name, urls in paths.items()}
    try:
        for name in paths:
            await drive(client, cycles[name], args.rate, args.warmup, None)
        for _ in range(args.rounds):
            for name in paths:
                result = results[name]
                before = len(result.latencies)
                server, mine = cpu_seconds(pid), time.process_time()
                await drive(client, cycles[name], args.rate, args.duration, result)
                result.server_cpu += cpu_seconds(pid) - server
                result.client_cpu += time.process_time() - mine
                result.p99s.append(percentile(result.latencies[before:], 0.99))
    finally:
        await client.aclose()
    return results


# ---- the report ------------------------------------------------------------------------------------------------------


def report(name: str, r: Result) -> None:
    p = {q: percentile(r.latencies, q) for q in (0.5, 0.9, 0.99)}
    rounds = ", ".join(f"{v:.1f}" for v in r.p99s)
    print(
        f"{name:<42} {len(r.latencies) / r.elapsed:6.0f}/s  p50 {p[0.5]:6.1f}  p90 {p[0.9]:6.1f}  p99 {p[0.99]:7.1f}  "
        f"max {max(r.latencies):7.1f} ms  errors {r.errors}/{r.sent}  | p99 per round: {rounds} ms | "
        f"send lag p99 {percentile(r.lags, 0.99):.1f} ms | CPU: server {r.server_cpu / r.elapsed:.0%}, "
        f"load generator {r.client_cpu / r.elapsed:.0%} of one core"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate", type=float, default=500, help="requests per second, open loop")
    parser.add_argument("--duration", type=float, default=10, help="seconds per measured round and endpoint")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds: baseline, missions, baseline, ...")
    parser.add_argument("--warmup", type=float, default=5, help="seconds per endpoint before measuring (discarded)")
    parser.add_argument("--workers", type=int, default=1, help="server processes (`questline serve --workers`)")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections of the load generator")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw", help="load generator's HTTP client")
    parser.add_argument("--empty", type=float, default=0.1, help="share of requests for subscribers with no mission")
    parser.add_argument("--home", type=Path, help="build the state here once and reuse it on later runs")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="questline-api-latency-"))
    print(f"building the state in {home} ...", flush=True)
    state = build(home, args.subscribers, args.days, args.seed)
    print(state["summary"])
    rng = random.Random(args.seed)
    holders, others = list(state["holders"]), list(state["others"])  # type: ignore[call-overload]
    others = others or [f"+44770{n:07d}" for n in range(1000)]  # unknown numbers when everyone holds a mission
    count = int(args.rate * (args.warmup + args.rounds * args.duration))  # no subscriber sequence repeats
    chosen = [rng.choice(others if rng.random() < args.empty else holders) for _ in range(count)]
    paths = {
        f"baseline GET {HEALTH}": [HEALTH],
        "GET /v1/subscribers/{id}/missions": [f"/v1/subscribers/{s}/missions" for s in chosen],
    }

    port = free_port()
    server, what = start_server(home, port, args.workers, home / "server.log")
    try:
        print(f"server: {what}, pid {server.pid}, http://127.0.0.1:{port}")
        print(
            f"load: open loop at {args.rate:.0f} req/s, {args.connections} keep-alive connections, asyncio + "
            f"{args.client} client in one process sharing the machine's {os.cpu_count()} cores with the server; "
            f"{args.warmup:.0f}s warm-up, then {args.rounds} alternating rounds of {args.duration:.0f}s per endpoint; "
            f"latency from the scheduled send time; load average before: {loadavg()}",
            flush=True,
        )
        results = asyncio.run(load(port, str(state["key"]), paths, args, server.pid))
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"load average after: {loadavg()}")
    for name, result in results.items():
        report(name, result)
    p99 = percentile(results["GET /v1/subscribers/{id}/missions"].latencies, 0.99)
    print(f"target: p99 <= 20 ms at {args.rate:.0f} req/s: {'met' if p99 <= 20 else 'NOT met'} (p99 {p99:.1f} ms)")
    if args.home is None:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
