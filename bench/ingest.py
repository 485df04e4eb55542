"""Ingest benchmark: the raw broker ceiling vs. the gateway under wrk load, in one run.

(a) raw ceiling: aio-pika confirmed, persistent publishes to a quorum queue on this broker,
    as many in flight as helps (no HTTP, no outbox), measured before the first scenario and
    after each one: a scenario's ratio is to the mean of the two ceilings around it;
(b) each gateway scenario: `lapor-gateway run` as its own process, loaded by wrk (a C load
    generator, so Python does not burn the CPU it measures), timed until every accepted report is
    confirmed on the queue; then a paced wrk run at half that rate for p50/p99 latency. It is
    measured afresh at each of --connections (32 and 128): group commits grow with the requests
    in flight, so like the ceiling a scenario is rated at as many as helps, the best of the sweep.
Reported as ratios to (a) because these 2-core machines are shared and noisy.

    .venv/bin/python bench/ingest.py [--seconds 15] [--scenarios api,sms,...] [--rates-only]

Scenarios: api, api_dedup / api_dedup_off (the dedup step's cost), form, sms / sms_acks
(acknowledgements off / on), whatsapp, whatsapp_full (dedup's cluster index full from the start:
the steady state's RSS), telegram.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.process import write_toml  # noqa: E402
from tests.support.proxy import free_port  # noqa: E402

AMQP_URL = os.environ.get("LAPOR_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
PAYLOAD = json.dumps({"body": "x" * 600}).encode()


@dataclass(frozen=True)
class Load:
    """What wrk needs for one scenario: the URL path, extra environment and script arguments."""

    path: str
    env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scenario:
    name: str
    lua: str  # a script in bench/lua
    prepare: Callable[[Path, str], Load]  # (work dir, gateway URL) -> what wrk needs
    config: dict[str, Any] = field(default_factory=dict)  # merged into the gateway's config
    calibration: bool = False  # run bench/calibration.py (aiohttp + one confirmed publish) instead
    acks: bool = False  # every report is acknowledged through the sink: time how long they take to follow
    # Before the gateway starts, its store holds as many recent varied reports as dedup's cluster
    # index has slots: the index starts full, as in a daemon that has run for a while (steady-state RSS).
    full_index: bool = False


BENCH_SECRET = "bench-secret"
ACKS_OFF = {"acks": {"enabled": False}}
WHATSAPP = {**ACKS_OFF, "channels": {"whatsapp": {"verify_token": "v", "app_secret": BENCH_SECRET,
                                                  "access_token": "t", "api_url": "SINK"}}}


def whatsapp_bodies(workdir: Path, _url: str) -> Load:
    from adapters.whatsapp.bench_bodies import main as write_bodies

    bodies = workdir / "whatsapp-bodies.txt"
    argv = sys.argv
    sys.argv = ["bench_bodies", "--secret", BENCH_SECRET, "--count", "60000", "--out", str(bodies)]
    try:
        write_bodies()
    finally:
        sys.argv = argv
    return Load("/webhooks/whatsapp", args=(str(bodies), "1"))


def form_token(_workdir: Path, _url: str) -> Load:
    from adapters.web.guard import Signer

    return Load("/", env={"LAPOR_FORM_CSRF": Signer(BENCH_SECRET, 3600).new_csrf_token()})


SMS = {"channels": {"sms": {"generic": {"token": BENCH_SECRET}}}}
SCENARIOS: dict[str, Scenario] = {
    # The reference point: a bare aiohttp handler awaiting one confirmed publish per request.
    "calibration": Scenario("calibration", "api.lua", lambda _w, _u: Load("/v1/reports"), calibration=True),
    "api": Scenario("api", "api.lua", lambda _w, _u: Load("/v1/reports"), ACKS_OFF),
    # The dedup step's cost: the same near-duplicate traffic with [dedup] on and off.
    "api_dedup": Scenario("api_dedup", "api_dedup.lua", lambda _w, _u: Load("/v1/reports"), ACKS_OFF),
    "api_dedup_off": Scenario(
        "api_dedup_off", "api_dedup.lua", lambda _w, _u: Load("/v1/reports"), {**ACKS_OFF, "dedup": {"enabled": False}}
    ),
    "form": Scenario(
        "form", "form.lua", form_token,
        {**ACKS_OFF, "channels": {"web": {"csrf_secret": BENCH_SECRET, "rate_limit": 0}}},
    ),
    "sms": Scenario(
        "sms", "sms.lua", lambda _w, _u: Load("/webhooks/sms/generic", env={"BENCH_SMS_TOKEN": BENCH_SECRET}),
        {**ACKS_OFF, **SMS},
    ),
    # Acknowledgements on: each SMS report is answered through the generic send API (a local sink).
    "sms_acks": Scenario(
        "sms_acks", "sms.lua", lambda _w, _u: Load("/webhooks/sms/generic", env={"BENCH_SMS_TOKEN": BENCH_SECRET}),
        {"channels": {"sms": {"generic": {"token": BENCH_SECRET, "send_url": "SINK/send"}}}}, acks=True,
    ),
    "whatsapp": Scenario("whatsapp", "whatsapp.lua", whatsapp_bodies, WHATSAPP),
    "whatsapp_full": Scenario(
        "whatsapp_full", "whatsapp.lua", whatsapp_bodies, WHATSAPP, full_index=True,
    ),
    "telegram": Scenario(
        "telegram", "telegram.lua", lambda _w, _u: Load("/webhooks/telegram", env={"TELEGRAM_SECRET": BENCH_SECRET}),
        {**ACKS_OFF, "channels": {"telegram": {"bot_token": "1:bench", "secret_token": BENCH_SECRET,
                                               "bot_username": "lapor_bench_bot", "api_url": "SINK"}}},
    ),
}


class Sink:
    """A provider stand-in on loopback that answers every call (acknowledgement sends, API calls)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.calls = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        async def answer(_request: web.Request) -> web.Response:
            self.calls += 1
            return web.json_response({"ok": True, "result": {"message_id": self.calls}, "messages": [{"id": "x"}]})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", answer)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def with_sink(value: Any, sink_url: str) -> Any:
    if isinstance(value, dict):
        return {key: with_sink(item, sink_url) for key, item in value.items()}
    if isinstance(value, str) and value.startswith("SINK"):
        return sink_url + value[4:]
    return value


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        both_tables = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = merge(merged[key], value) if both_tables else value
    return merged


async def raw_ceiling(seconds: float, in_flight: int) -> float:
    """Confirmed persistent publishes to a fresh quorum queue, ``in_flight`` at once."""
    name = f"bench.raw.{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
        exchange = channel.default_exchange
        done = 0
        deadline = time.perf_counter() + seconds

        async def publisher() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                message = aio_pika.Message(PAYLOAD, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                           message_id=uuid.uuid4().hex, content_type="application/json")
                await exchange.publish(message, routing_key=name, mandatory=True)
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(publisher() for _ in range(in_flight)))
        elapsed = time.perf_counter() - started
        await queue.delete(if_unused=False, if_empty=False)
    return done / elapsed


def fill_dedup_index(run: GatewayRun) -> None:
    """Store as many recent varied reports as the gateway's cluster index holds (see Scenario.full_index)."""
    from bench.dedup_scale import build
    from gateway.config import load_config

    capacity = load_config(run.config_file).dedup.cluster_capacity
    print(f"{run.scenario.name}: storing {capacity:,} recent reports for the cluster index", flush=True)
    build(Path(run.config["storage"]["path"]), capacity, time.time(), seed=7)


class GatewayRun:
    def __init__(
        self, scenario: Scenario, workdir: Path, sink: Sink, *, checkout: Path = ROOT, wrapper: Sequence[str] = ()
    ) -> None:
        self.scenario = scenario
        self.workdir = workdir
        self.checkout = checkout  # the gateway's code is imported from here (another build, for an A/B)
        self.wrapper = list(wrapper)  # runs the gateway's command (valgrind, for bench/instructions.py)
        self.port = free_port()
        suffix = uuid.uuid4().hex[:8]
        self.queue = f"bench.{scenario.name}.{suffix}"
        data: dict[str, Any] = {
            "http": {"host": "127.0.0.1", "port": self.port},
            "storage": {"path": str(workdir / "outbox.sqlite3"), "attachments_dir": str(workdir / "att")},
            "broker": {"url": AMQP_URL, "exchange": self.queue, "queue": self.queue},
            "logging": {"level": "warning", "format": "json"},
        }
        self.config = merge(data, with_sink(scenario.config, sink.url))
        self.config_file = write_toml(workdir / "gateway.toml", self.config)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 20.0) -> None:
        log = (self.workdir / "gateway.log").open("wb")
        command = [sys.executable, "-m", "gateway.cli", "run", "--config", str(self.config_file)]
        if self.scenario.calibration:
            command = [sys.executable, "bench/calibration.py", "--port", str(self.port), "--url", AMQP_URL,
                       "--queue", self.queue]
        self.process = subprocess.Popen(  # noqa: ASYNC220
            [*self.wrapper, *command], cwd=self.checkout, stdout=log, stderr=log)
        async with aiohttp.ClientSession() as session:
            for _ in range(int(timeout * 10)):
                try:
                    async with session.get(f"{self.url}/readyz") as response:
                        body = await response.json()
                        if response.status == 200 and body["broker"] == "connected":
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"gateway did not become ready: {(self.workdir / 'gateway.log').read_text()[-2000:]}")

    async def counters(self) -> tuple[float, float]:
        async with aiohttp.ClientSession() as session, session.get(f"{self.url}/metrics") as response:
            text = await response.text()
        accepted = sum(float(v) for v in re.findall(r"^lapor_reports_accepted_total\{[^}]*\} (\S+)", text, re.M))
        published = sum(float(v) for v in re.findall(r"^lapor_reports_published_total\{[^}]*\} (\S+)", text, re.M))
        return accepted, published

    def pids(self) -> list[int]:
        """The gateway's process and its children (the commit process): the gateway is all of them."""
        assert self.process is not None
        pid = self.process.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        return [pid, *map(int, children)]

    def cpu_seconds(self) -> float:
        """User and system CPU the gateway's processes have used so far (every thread)."""
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        """The peak resident memory of the gateway's processes, summed (VmHWM of each)."""
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                match = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
                total += int(match.group(1)) if match else 0
        return total / 1024 if total else float("nan")

    async def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            for queue in (self.queue, f"{self.queue}.dead"):
                await channel.queue_delete(queue)
            for exchange in (self.queue, f"{self.queue}.dlx"):
                await channel.exchange_delete(exchange)


def run_wrk(url: str, scenario: Scenario, load: Load, seconds: float, connections: int, pace_ms: int = 0) -> str:
    env = {**os.environ, **load.env, **({"BENCH_DELAY_MS": str(pace_ms)} if pace_ms else {})}
    command = ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--latency",
               "-s", f"bench/lua/{scenario.lua}", url + load.path]
    if load.args:
        command += ["--", *load.args]
    return subprocess.run(command, check=True, capture_output=True, text=True, env=env, cwd=ROOT).stdout


def wrk_latency(output: str, percentile: str) -> float:
    match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def wrk_non_2xx(output: str) -> int:
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return int(match.group(1)) if match else 0


async def wait_published(run: GatewayRun) -> float:
    accepted, published = await run.counters()
    while published < accepted:
        await asyncio.sleep(0.05)
        accepted, published = await run.counters()
    return accepted


async def wait_acks(sink: Sink, calls_before: int, accepted: float, limit: float = 300.0) -> float:
    """Seconds until the sink has taken an acknowledgement for every accepted report."""
    started = time.perf_counter()
    while sink.calls - calls_before < accepted:
        if time.perf_counter() - started > limit:
            raise RuntimeError(f"only {sink.calls - calls_before} of {int(accepted)} acknowledgements in {limit}s")
        await asyncio.sleep(0.05)
    return round(time.perf_counter() - started, 2)


async def measure(
    scenario: Scenario, seconds: float, connections: int, sink: Sink, with_latency: bool = True
) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"lapor-bench-{scenario.name}-"))
    run = GatewayRun(scenario, workdir, sink)
    if scenario.full_index:
        fill_dedup_index(run)
    await run.start()
    try:
        load = scenario.prepare(workdir, run.url)
        sink_calls = sink.calls
        cpu_before = run.cpu_seconds()
        started = time.perf_counter()
        output = await asyncio.to_thread(run_wrk, run.url, scenario, load, seconds, connections)
        load_end = time.perf_counter()
        # At the load's end: acknowledgements go out once intake is quiet, so their sends come after.
        cpu_during_load = run.cpu_seconds() - cpu_before
        acks_in_time = sink.calls - sink_calls
        accepted = await wait_published(run)
        if not accepted:
            raise RuntimeError(f"{scenario.name}: no report accepted; wrk said:\n{output}")
        finished = time.perf_counter()
        elapsed = finished - started
        publish_tail_s = round(finished - load_end, 2)
        sustained = accepted / elapsed
        ack_drain_s = await wait_acks(sink, sink_calls, accepted) if scenario.acks else None
        latency: dict[str, float] = {}
        if with_latency:
            # Latency at half the sustained rate: each connection paced to rate/2/connections.
            paced_connections = 16
            delay_ms = max(1, int(1000 * paced_connections / (sustained / 2)))
            paced = await asyncio.to_thread(
                run_wrk, run.url, scenario, load, min(seconds, 10), paced_connections, delay_ms)
            await wait_published(run)
            latency = {"p50_ms_at_half_rate": wrk_latency(paced, "50"), "p99_ms_at_half_rate": wrk_latency(paced, "99")}
        return {
            "scenario": scenario.name,
            "reports_per_s": round(sustained, 1),
            "accepted": int(accepted),
            "non_2xx": wrk_non_2xx(output),
            "publish_tail_s": publish_tail_s,  # load end -> every accepted report confirmed
            # The gateway's CPU (every thread) during the load, per report accepted.
            "cpu_ms_per_report": round(1000 * cpu_during_load / accepted, 4),
            **latency,
            "peak_rss_mb": round(run.peak_rss_mb(), 1),
            "provider_calls": sink.calls - sink_calls,
            **({"acks_sent_by_load_end": acks_in_time, "acks_all_sent_after_s": ack_drain_s} if scenario.acks else {}),
        }
    finally:
        await run.stop()
        shutil.rmtree(workdir, ignore_errors=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--connections", default="32,128",
                        help="wrk connections: each scenario is measured at each count (comma-separated), and "
                             "its rate is the best of them, as the ceiling's is at as many in flight as helps")
    parser.add_argument("--in-flight", type=int, default=256)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--rates-only", action="store_true",
                        help="skip the paced latency run: more alternating repeats in the same time (A/B)")
    parser.add_argument("--ceiling-seconds", type=float, default=5,
                        help="each raw ceiling measurement (one before the first scenario and one after each)")
    args = parser.parse_args()
    sink = Sink()
    await sink.start()

    async def ceiling_now() -> float:
        ceiling = await raw_ceiling(args.ceiling_seconds, args.in_flight)
        print(f"raw ceiling (aio-pika confirmed persistent publishes, quorum queue): {ceiling:.1f} msg/s", flush=True)
        results.append({"scenario": "raw_ceiling", "reports_per_s": round(ceiling, 1)})
        return ceiling

    results: list[dict[str, Any]] = []
    before = await ceiling_now()
    for name in args.scenarios.split(","):
        sweep: list[dict[str, Any]] = []
        for connections in (int(count) for count in args.connections.split(",")):
            result = await measure(SCENARIOS[name], args.seconds, connections, sink, not args.rates_only)
            results.append(result)  # before the ceiling that follows it
            sweep.append(result)
            after = await ceiling_now()
            # The ceiling drifts with the other tenants' load over tens of seconds: a scenario is
            # compared with the ceilings measured just before and just after it.
            ceiling = (before + after) / 2
            result.update(connections=connections, ceiling=round(ceiling, 1),
                          ratio_to_ceiling=round(result["reports_per_s"] / ceiling, 3))
            print(json.dumps(result), flush=True)
            before = after
        best = max(sweep, key=lambda result: result["ratio_to_ceiling"])
        best["best_of_sweep"] = True
        print(f"{name}: {best['ratio_to_ceiling']} of the ceiling, at {best['connections']} connections", flush=True)
    await sink.stop()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
