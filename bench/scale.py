"""Reads at a large firm's size: seed PostgreSQL, then time what staff read all day.

    .venv/bin/python -m bench.scale --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_scale
                                    [--seed] [--repeat 20] [--redis-url redis://127.0.0.1:6379/15]

--seed migrates the (empty) database and runs bench/seed_scale.sql with psql: one business
of 100,000 clients, 50,000 reminders, 1,000,000 deliveries and 200,000 audit events over
two years, and 50 small businesses beside it (about a minute). Then it starts `reminders
api` on that database (Temporal unreachable: no read here needs it) and, as the big
business's owner, requests each read once to warm the process, then --repeat times,
printing p50/p95/max and marking those over the target (p95 50 ms). The dashboard's cache
is emptied before each of its requests (its own Redis database, flushed): cache cold.
/metrics counts rows at every scrape (METRICS_DATABASE_REFRESH_SECONDS=0).

For the plans behind a slow read: `--explain` turns on PostgreSQL's auto_explain for the
database (ANALYZE, BUFFERS, statements over 20 ms) so they land in the server's log.
Never part of `make test`; see bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from bench.load import pct
from bench.stack import HOST, ROOT, free_ports, machine, say

SECRET = "bench-scale-secret-key-0123456789-abcdefghijklmnop"
TARGET_MS = 50.0


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def seed(database_url: str) -> tuple[uuid.UUID, uuid.UUID]:
    from core.security import hash_password

    env = {**os.environ, "DATABASE_URL": database_url}
    subprocess.run([sys.executable, "-m", "cli", "migrate"], cwd=ROOT, env=env, check=True)
    big, owner = uuid.uuid4(), uuid.uuid4()
    started = time.monotonic()
    subprocess.run(
        ["psql", libpq(database_url), "-q", "-v", "ON_ERROR_STOP=1", "-v", f"big={big}",
         "-v", f"owner={owner}", "-v", f"hash={hash_password('Correct-Horse-7')}",
         "-f", str(ROOT / "bench" / "seed_scale.sql")],
        check=True,
    )  # fmt: skip
    say(f"seeded in {time.monotonic() - started:.0f}s")
    return big, owner


def find_owner(database_url: str) -> tuple[uuid.UUID, uuid.UUID, str]:
    query = (
        "SELECT m.business_id, u.id, u.hashed_password FROM users u JOIN memberships m "
        "ON m.user_id = u.id WHERE u.email = 'owner@scale.example.com'"
    )
    out = subprocess.run(
        ["psql", libpq(database_url), "-At", "-F", " ", "-c", query],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    if len(out) != 3:
        raise SystemExit("no seeded business: run with --seed on an empty database")
    return uuid.UUID(out[0]), uuid.UUID(out[1]), out[2]


def explain_on(database_url: str, on: bool) -> None:
    name = make_url(database_url).database
    settings = (
        [
            f"ALTER DATABASE {name} SET session_preload_libraries = 'auto_explain'",
            f"ALTER DATABASE {name} SET auto_explain.log_min_duration = '20ms'",
            f"ALTER DATABASE {name} SET auto_explain.log_analyze = on",
            f"ALTER DATABASE {name} SET auto_explain.log_buffers = on",
        ]
        if on
        else [f"ALTER DATABASE {name} RESET ALL"]
    )
    for statement in settings:
        subprocess.run(["psql", libpq(database_url), "-q", "-c", statement], check=True)


def reads(ids: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(name, path, params) of what a firm's staff read often."""
    month_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 30 * 86400))
    return [
        ("reminders, first page", "/api/v1/reminders", {"limit": 50}),
        ("reminders, page 400", "/api/v1/reminders", {"limit": 50, "offset": 20000}),
        ("  the same by cursor", "/api/v1/reminders", {"limit": 50, "after": ids["reminders"]}),
        ("reminders, status=paused", "/api/v1/reminders", {"status": "paused", "limit": 50}),
        ("reminders, type=document_request", "/api/v1/reminders", {"type": "document_request"}),
        ("reminders, client_id", "/api/v1/reminders", {"client_id": ids["client"]}),
        ("reminder", f"/api/v1/reminders/{ids['reminder']}", {}),
        ("reminder's deliveries", f"/api/v1/reminders/{ids['reminder']}/deliveries", {}),
        ("notifications, first page", "/api/v1/notifications", {"limit": 50}),
        ("notifications, page 2000", "/api/v1/notifications", {"limit": 50, "offset": 100000}),
        (
            "  the same by cursor",
            "/api/v1/notifications",
            {"limit": 50, "after": ids["deliveries"]},
        ),
        ("notifications, status=failed", "/api/v1/notifications", {"status": "failed"}),
        ("notifications, channel=sms", "/api/v1/notifications", {"channel": "sms"}),
        ("notifications, client_id", "/api/v1/notifications", {"client_id": ids["client"]}),
        ("notifications, reminder_id", "/api/v1/notifications", {"reminder_id": ids["reminder"]}),
        ("notifications, last 30 days", "/api/v1/notifications", {"since": month_ago}),
        ("dashboard summary (cold)", "/api/v1/dashboard/summary", {}),
        ("dashboard timeseries (cold)", "/api/v1/dashboard/timeseries", {}),
        ("usage", "/api/v1/usage", {}),
        ("events", "/api/v1/events", {"limit": 50}),
        ("clients, first page", "/api/v1/clients", {"limit": 50}),
        ("clients, search", "/api/v1/clients", {"search": "Client 4242"}),
        ("clients, tag=vat", "/api/v1/clients", {"tag": "vat", "limit": 50}),
        ("metrics", "/metrics", {}),
        ("/admin", "/admin", {}),
        ("/admin/reminders", "/admin/reminders", {}),
        ("/admin/clients", "/admin/clients", {}),
        ("/admin/deliveries", "/admin/deliveries", {}),
        ("/admin/usage", "/admin/usage", {}),
    ]


class Api:
    """`reminders api` on the seeded database, as a subprocess."""

    def __init__(self, database_url: str, redis_url: str) -> None:
        self.port, closed = free_ports(2)
        self.url = f"http://{HOST}:{self.port}"
        env = {
            **os.environ,
            "ENV": "development",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": SECRET,
            "TEMPORAL_ADDRESS": f"{HOST}:{closed}",
            "METRICS_DATABASE_REFRESH_SECONDS": "0",
            "API_RATE_LIMIT": "100000/minute",
            "LOG_LEVEL": "WARNING",
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "api", "--port", str(self.port)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    async def ready(self) -> None:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline:
                try:
                    if (await http.get(f"{self.url}/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.3)
        raise SystemExit("reminders api did not answer /healthz in 60 s")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


async def time_reads(api: Api, owner: tuple[uuid.UUID, uuid.UUID, str], args: Any) -> int:
    from redis import Redis

    from api.web import session as web_session
    from core.security import create_access_token
    from core.settings import Settings

    business, user, hashed = owner
    settings = Settings(_env_file=None, SECRET_KEY=SECRET)  # type: ignore[call-arg]
    token = create_access_token(user, SECRET, 60)
    cookie, _ = web_session.issue(settings, user, hashed, business_id=business)
    cache = Redis.from_url(args.redis_url)
    headers = {"Authorization": f"Bearer {token}"}
    slow = 0
    async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=60) as http:
        http.cookies.set(web_session.SESSION_COOKIE, cookie)
        first = (await http.get("/api/v1/reminders", params={"limit": 1})).json()["items"][0]
        ids = {"reminder": first["id"], "client": first["client_ids"][0]}
        for name, offset in (("reminders", 19950), ("deliveries", 99950)):
            path = "/api/v1/" + ("reminders" if name == "reminders" else "notifications")
            before = await http.get(path, params={"limit": 50, "offset": offset})
            ids[name] = before.json()["next_cursor"]  # the cursor that starts the deep page
        say(f"{'read':<32}{'p50':>9}{'p95':>9}{'max':>9}   (ms, {args.repeat} requests each)")
        for name, path, params in reads(ids):
            times = []
            for attempt in range(args.repeat + 1):
                if "cold" in name:
                    cache.flushdb()
                started = time.perf_counter()
                answer = await http.get(path, params=params)
                elapsed = 1000 * (time.perf_counter() - started)
                if answer.status_code != 200:
                    raise SystemExit(f"{name}: {answer.status_code} {answer.text[:300]}")
                if attempt:  # the first warms the process (imports, compiled statements)
                    times.append(elapsed)
            p95 = pct(times, 0.95)
            mark = "  over" if p95 > TARGET_MS else ""
            slow += bool(mark)
            say(f"{name:<32}{pct(times, 0.5):>9.1f}{p95:>9.1f}{max(times):>9.1f}{mark}")
    say(f"{slow} of {len(reads(ids))} reads over the target (p95 {TARGET_MS:g} ms)")
    return slow


async def run(args: argparse.Namespace) -> int:
    say(f"machine: {machine()}")
    if args.seed:
        seed(args.database_url)
    owner = find_owner(args.database_url)
    if args.explain is not None:
        explain_on(args.database_url, args.explain == "on")
        say(f"auto_explain {args.explain} for the database")
    api = Api(args.database_url, args.redis_url)
    try:
        await api.ready()
        await time_reads(api, owner, args)
    finally:
        api.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--database-url", required=True, help="PostgreSQL (postgresql+psycopg://)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15", help="flushed!")
    parser.add_argument("--seed", action="store_true", help="migrate and seed an empty database")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--explain", choices=("on", "off"), help="auto_explain in the PG log")
    args = parser.parse_args(argv)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
