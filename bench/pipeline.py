"""Stream benchmark: the Faust stock pipeline against baselines on the same broker, same run.

* throughput: 50,000 simulated events already on the broker, taken in and fully processed by one
  worker (lake, derived messages, alerts; the webhooks agent runs beside it). Baselines: a Faust
  agent that only takes and acknowledges the same messages (`bench.noop_agent`), and an aiokafka
  consume → produce relay (no parsing, no state). Then scale-out: one worker and then two on the
  same events, each on a fresh broker and lake, twice; two workers' best against one's.
* latency: event produced → its `inventory_changed` received, five runs at 500 events/s, then
  five at 3,000 (every run its own events, 3 s of warm-up first; the worker drained between).
  Baseline: message produced → relayed copy received at the same rate, one relay run before each
  worker run, on relay topics that keep what the runs before sent (the embedded broker's fetch
  costs more as a partition's batches pile up, `streams.tansu_compat`: the relay shows its share).
  The relay runs in a process of its own, as the worker does, for the whole of the latency runs.
  An event whose echo has not come 30 s after a run's last send is left out of its figures
  and counted (so is every event that changes no stock: it has no echo).
* query: GET /stock/{location}/{sku} on the worker (keep-alive client), once it has taken in
  the 50,000 events and before the latency runs. Baseline: the same client against a bare
  aiohttp server returning a fixed JSON body.

`BENCH_EVENTS`, `BENCH_RATES` (500,3000), `BENCH_SECONDS` (10 per latency run) and `BENCH_RUNS`
(5) change the sizes.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from rich.console import Console
from rich.table import Table

from cli.supervisor import start_worker, worker_env
from infra.processes import start_process, stop_process, wait_for_http
from simulator.company import SimMessage, Simulation, build_catalog
from stockflow.config import Settings
from streams.broker import EmbeddedBroker, ensure_topics

console = Console(width=132)
START = date(2026, 1, 5)
FETCH_WAIT_MS = Settings().embedded_fetch_wait_ms  # the baseline consumers wait as long as the workers


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    baseline: float | None = None
    target: str = ""
    ok: bool | None = None
    #: shown beside the value (e.g. a run's p50 beside its p99)
    detail: str = ""

    @property
    def ratio(self) -> float | None:
        return None if not self.baseline else self.value / self.baseline


def auth() -> dict[str, str]:
    """The run's service credential (bench/__main__.py chooses it; workers register it)."""
    token = os.environ.get("STOCKFLOW_API_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


# ---------------------------------------------------------------- baseline relay
async def create_plain_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()


async def produce_all(bootstrap: str, messages: list[tuple[str, bytes, bytes]]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    t0 = time.perf_counter()
    for topic, key, value in messages:
        await producer.send(topic, key=key, value=value)
    await producer.flush()
    await producer.stop()
    return time.perf_counter() - t0


async def relay(
    bootstrap: str, src: str, dst: str, stop_after: int | None, group: str, ready: asyncio.Event | None = None
) -> tuple[int, float]:
    """Consume src, produce every message to dst; return (count, seconds from first message).

    `ready` is set once the group has assigned the relay its partitions."""
    consumer = AIOKafkaConsumer(
        src,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=FETCH_WAIT_MS,
        max_poll_records=1000,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1)
    await consumer.start()
    await producer.start()
    count, first = 0, None
    try:
        while stop_after is None or count < stop_after:
            batch = await consumer.getmany(timeout_ms=200, max_records=1000)
            if ready is not None and consumer.assignment():
                ready.set()
            for records in batch.values():
                for record in records:
                    if first is None:
                        first = time.perf_counter()
                    await producer.send(dst, key=record.key, value=record.value)
                    count += 1
            if batch:
                await consumer.commit()
        await producer.flush()
    finally:
        await producer.stop()
        await consumer.stop()
    return count, time.perf_counter() - (first or time.perf_counter())


def relay_forever(bootstrap: str, src: str, dst: str, group: str) -> None:
    """The latency baseline's relay, in a process of its own (`start_relay`): says "ready" on
    standard output once it has its partitions, then relays until it is stopped."""

    async def go() -> None:
        ready = asyncio.Event()
        task = asyncio.create_task(relay(bootstrap, src, dst, None, group, ready))
        done, _ = await asyncio.wait(
            {task, asyncio.ensure_future(ready.wait())}, timeout=60, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            task.result()  # it failed before it was assigned anything: raise why
        if not done:
            raise TimeoutError("the relay was assigned no partition within 60 s")
        print("ready", flush=True)
        await task

    asyncio.run(go())


def start_relay(bootstrap: str, src: str, dst: str, group: str, log_path: Path) -> subprocess.Popen:
    """`relay_forever` in a child process; returns once it has its partitions."""
    script = "import sys; from bench.pipeline import relay_forever; relay_forever(*sys.argv[1:])"
    with open(log_path, "ab") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", script, bootstrap, src, dst, group],
            stdout=subprocess.PIPE,
            stderr=err,
            cwd=Path(__file__).resolve().parent.parent,
        )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != b"ready":
        proc.kill()
        proc.wait()
        raise RuntimeError(f"the baseline relay did not start; see {log_path}")
    return proc


async def relay_throughput(bootstrap: str, n: int) -> float:
    await create_plain_topics(bootstrap, ["bench_in", "bench_out"], 4)
    payload = json.dumps({"event_id": "x" * 24, "qty": "1", "sku": "DRY-0001"}).encode() * 2
    await produce_all(bootstrap, [("bench_in", f"ST{i % 8:02d}".encode(), payload) for i in range(n)])
    count, seconds = await relay(bootstrap, "bench_in", "bench_out", n, "bench-relay")
    return count / seconds


async def paced_latency(
    bootstrap: str,
    messages: list[tuple[str, bytes, bytes, str]],
    rate: float,
    listen_topic: str,
    id_of: Any,
    warmup_seconds: float = 3.0,
    wait_seconds: float = 30.0,
) -> tuple[list[float], int]:
    """Send at `rate`/s, listen on `listen_topic`; return ms from send to first echo per id,
    for the messages sent after the warm-up (consumer joins and first fetches excluded), and
    how many of those got no echo within `wait_seconds` of the last send (they are not in the
    figures: an event that changes no stock has none, a late one is left out)."""
    sent: dict[str, float] = {}
    latencies: dict[str, float] = {}
    consumer = AIOKafkaConsumer(
        listen_topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="latest",
        fetch_max_wait_ms=FETCH_WAIT_MS,
    )
    await consumer.start()
    await consumer.seek_to_end()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    done = asyncio.Event()

    async def listen() -> None:
        while not done.is_set() or len(latencies) < len(sent):
            batch = await consumer.getmany(timeout_ms=200)
            now = time.perf_counter()
            for records in batch.values():
                for record in records:
                    key = id_of(record.value)
                    if key in sent and key not in latencies:
                        latencies[key] = (now - sent[key]) * 1000
            if done.is_set() and time.perf_counter() - last_send > wait_seconds:
                break

    last_send = time.perf_counter()
    task = asyncio.create_task(listen())
    t0 = time.perf_counter()
    for i, (topic, key, value, ident) in enumerate(messages):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent[ident] = time.perf_counter()
        await producer.send(topic, key=key, value=value)
        last_send = time.perf_counter()
    await producer.flush()
    done.set()
    await task
    await producer.stop()
    await consumer.stop()
    missing = len(sent) - len(latencies)
    if missing:
        console.print(f"[yellow]{missing} of {len(sent)} messages got no echo[/]")
    measured = {k: ms for k, ms in latencies.items() if sent[k] - t0 >= warmup_seconds}
    slow = sorted(sent[k] - t0 for k, ms in measured.items() if ms > 200)
    if slow:
        console.print(f"{len(slow)} echoes over 200 ms, sent {slow[0]:.1f}s to {slow[-1]:.1f}s into the run")
    unanswered = sum(1 for k, at in sent.items() if at - t0 >= warmup_seconds and k not in latencies)
    return list(measured.values()), unanswered


# ---------------------------------------------------------------- the pipeline
def health(url: str) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=5)
    conn.request("GET", "/health", headers=auth())
    body = json.loads(conn.getresponse().read())
    conn.close()
    return body


def query_latencies(port: int, paths: list[str], rounds: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    out = []
    for i in range(rounds):
        t0 = time.perf_counter()
        conn.request("GET", paths[i % len(paths)], headers=auth())
        resp = conn.getresponse()
        resp.read()
        out.append((time.perf_counter() - t0) * 1000)
        assert resp.status == 200, resp.status
    conn.close()
    return out


BARE_SERVER = """
import json, sys
from aiohttp import web
body = json.dumps({"location": "ST01", "sku": "DRY-0001", "on_hand": 12, "batches": [{"batch": "", "on_hand": 12}]})
async def handle(request):
    return web.Response(text=body, content_type="application/json")
app = web.Application()
app.router.add_get("/stock/{location}/{sku}", handle)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def messages_for(sim: Simulation, days: int, first_day: date) -> list[SimMessage]:
    events = []
    for offset in range(days):
        events += sim.day(first_day + timedelta(days=offset))
    return list(sim.messages(events))


def drained(url: str, quiet_seconds: float = 3.0, timeout: float = 300.0) -> None:
    """Until the worker has taken nothing new for `quiet_seconds` and has nothing left to land
    (transit legs it forwarded to itself included)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = health(url)["counters"].get("in", 0)
        time.sleep(quiet_seconds)
        now = health(url)
        if now["counters"].get("in", 0) == before and not now["lake_pending_rows"]:
            return
    console.print(f"[yellow]the worker was still busy after {timeout:.0f} s[/]")


def run(
    n_events: int = 50_000,
    rates: tuple[float, ...] = (500.0, 3000.0),
    latency_seconds: float = 10.0,
    latency_runs: int = 5,
) -> list[Figure]:
    tmp = Path(tempfile.mkdtemp(prefix="stockflow-bench-"))
    broker_port, web_port = free_port(), free_port()
    settings = Settings(var_dir=tmp / "var", broker_port=broker_port, web_port=web_port, kafka_url=None)
    broker = EmbeddedBroker("127.0.0.1", broker_port, tmp / "broker.log")
    broker.start()
    bootstrap = broker.bootstrap
    figures: list[Figure] = []
    worker = bare = noop = relay_proc = None
    try:
        ensure_topics(bootstrap, settings.topic_partitions)
        console.print("baseline: aiokafka relay …")
        relay_rate = asyncio.run(relay_throughput(bootstrap, n_events))

        def relay_latency(rate: float, run_no: int) -> tuple[list[float], int]:
            """One run at `rate` through the relay, on topics that keep what the runs before
            sent (as the stock topics do): the broker's own part of the latency, run by run."""
            tag = f"r{rate:.0f}-{run_no}"
            msgs = [
                ("bench_lat_in", f"ST{i % 8:02d}".encode(), json.dumps({"id": f"{tag}-{i}"}).encode(), f"{tag}-{i}")
                for i in range(int(rate * (latency_seconds + 3)))
            ]  # fmt: skip
            return asyncio.run(
                paced_latency(bootstrap, msgs, rate, "bench_lat_out", lambda v: json.loads(v)["id"])
            )

        console.print("simulating the company …")
        catalog = build_catalog(settings.seed)
        catalog.save(settings.masterdata_path)
        sim = Simulation(catalog, seed=settings.seed)
        history = list(sim.messages(sim.history(START, 0)))
        day = START
        while len(history) < n_events:
            history += messages_for(sim, 1, day)
            day += timedelta(days=1)
        history = history[:n_events]
        # the live runs: every one its own events, 3 s of warm-up first (no sensor readings: a
        # reading changes no stock, so it has no inventory change to wait for)
        wanted = sum(int(rate * (latency_seconds + 3)) for rate in rates) * latency_runs
        live: list[SimMessage] = []
        while len(live) < wanted:
            live += [m for m in messages_for(sim, 1, day) if m.topic != "temperature_readings"]
            day += timedelta(days=1)

        console.print(f"pipeline: {len(history)} events already on the broker …")
        asyncio.run(produce_all(bootstrap, [(m.topic, m.key.encode(), m.value) for m in history]))
        inputs = {m.topic for m in history}

        console.print("baseline: a Faust agent that only takes and acknowledges them …")
        noop_port = free_port()
        noop = start_noop_agent(settings, noop_port, tmp / "noop.log")
        noop_rate_ = noop_rate(f"http://127.0.0.1:{noop_port}", len(history))
        stop_process(noop)
        noop = None

        console.print("pipeline: one worker takes them in …")
        worker = start_worker(settings, web_port, tmp / "worker.log", loglevel="warn")
        url = f"http://127.0.0.1:{web_port}"
        wait_for_http(url + "/health", timeout=120, process=worker, ready_key="ready")
        pipeline_rate = len(history) / seconds_to_handle([url], inputs, len(history))
        drained(url)

        # queries first: the latency runs leave the broker busy with what piles up in them
        console.print("query latency …")
        items = [(k.split("|")[0], k.split("|")[1]) for k in _some_keys(url)]
        paths = [f"/stock/{loc}/{sku}" for loc, sku in items]
        query_latencies(web_port, paths, 200)  # warm up
        q = query_latencies(web_port, paths, 3000)
        bare_port = free_port()
        bare = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(bare_port)])
        wait_for_port(bare_port)
        query_latencies(bare_port, ["/stock/ST01/DRY-0001"], 200)
        bq = query_latencies(bare_port, ["/stock/ST01/DRY-0001"], 3000)
        bare.terminate()
        bare.wait()
        bare = None

        asyncio.run(
            create_plain_topics(bootstrap, ["bench_lat_in", "bench_lat_out"], settings.topic_partitions)
        )
        relay_proc = start_relay(bootstrap, "bench_lat_in", "bench_lat_out", "lat", tmp / "relay.log")
        p99s: dict[float, list[float]] = {rate: [] for rate in rates}
        p50s: dict[float, list[float]] = {rate: [] for rate in rates}
        relay_p99s: dict[float, list[float]] = {rate: [] for rate in rates}
        # events without an echo: those that change no stock (a purchase order, an inspection,
        # a refused event), and any still unanswered 30 s after the run's last send
        silent: dict[float, list[tuple[int, int]]] = {rate: [] for rate in rates}
        for rate in rates:  # a rate's runs one after another, the lower rate first
            for run_no in range(latency_runs):
                relay_lat, relay_unanswered = relay_latency(rate, run_no)
                relay_p99s[rate].append(percentile(relay_lat, 99))
                console.print(
                    f"relay run {run_no + 1} at {rate:,.0f} messages/s: p50 {percentile(relay_lat, 50):.1f} ms, "
                    f"p99 {relay_p99s[rate][-1]:.1f} ms"
                    + (f", {relay_unanswered} unanswered" if relay_unanswered else "")
                )
                n = int(rate * (latency_seconds + 3))
                chunk, live = live[:n], live[n:]
                lat, unanswered = asyncio.run(
                    paced_latency(
                        bootstrap,
                        [(m.topic, m.key.encode(), m.value, m.event_id) for m in chunk],
                        rate,
                        "inventory_changed",
                        lambda v: json.loads(v)["event_id"],
                    )
                )
                p50s[rate].append(percentile(lat, 50))
                p99s[rate].append(percentile(lat, 99))
                silent[rate].append((unanswered, relay_unanswered))
                console.print(
                    f"run {run_no + 1} at {rate:,.0f} events/s: p50 {p50s[rate][-1]:.1f} ms, "
                    f"p99 {p99s[rate][-1]:.1f} ms ({len(lat)} events, {unanswered} without an echo)"
                )
                drained(url)
        stop_process(relay_proc)
        relay_proc = None

        stop_process(worker)
        worker = None
        # scale-out: one worker and then two on the same events, each on a fresh broker and lake,
        # twice; the best of each (two workers and the broker share this machine's two cores,
        # and a run's figure moves with what else the machine's host is doing)
        ones: list[float] = []
        twos: list[float] = []
        for attempt in range(2):
            console.print(f"scale-out, round {attempt + 1}: one worker, then two (fresh broker and lake) …")
            ones.append(workers_throughput(broker, settings, history, tmp / f"one-{attempt}", 1))
            twos.append(workers_throughput(broker, settings, history, tmp / f"two-{attempt}", 2))
        one_rate, two_rate = max(ones), max(twos)

        figures = [
            Figure(
                "throughput, 1 worker (50k), against the no-op Faust agent",
                pipeline_rate,
                "ev/s",
                noop_rate_,
                "≥ 5,000 ev/s",
                pipeline_rate >= 5000,
            ),
            Figure("throughput, 1 worker, against the aiokafka relay", pipeline_rate, "ev/s", relay_rate),
            Figure(
                "throughput, 2 workers, against 1 worker (fresh broker each, best of 2)",
                two_rate,
                "ev/s",
                one_rate,
                "≥ 1.7×",
                two_rate >= 1.7 * one_rate,
                detail="1 worker "
                + ", ".join(f"{r:,.0f}" for r in ones)
                + "; 2 workers "
                + ", ".join(f"{r:,.0f}" for r in twos),
            ),
        ]
        targets = {500.0: 100.0, 3000.0: 250.0}
        for rate in rates:
            target = targets.get(rate)
            for run_no, (p50, p99, (quiet, relay_quiet)) in enumerate(
                zip(p50s[rate], p99s[rate], silent[rate], strict=True), 1
            ):
                figures.append(
                    Figure(
                        f"event→inventory_changed p50 / p99 @{rate:,.0f}/s, run {run_no}",
                        p99,
                        "ms",
                        relay_p99s[rate][run_no - 1],
                        f"p99 < {target:.0f} ms" if target else "",
                        (p99 < target) if target else None,
                        detail=f"p50 {p50:.1f} ms; {quiet} without an echo"
                        + (f"; relay {relay_quiet}" if relay_quiet else ""),
                    )
                )
        figures += [
            Figure("stock query p50", percentile(q, 50), "ms", percentile(bq, 50)),
            Figure(
                "stock query p99",
                percentile(q, 99),
                "ms",
                percentile(bq, 99),
                "< 5 ms",
                percentile(q, 99) < 5,
            ),
        ]
    finally:
        if bare is not None:
            bare.terminate()
        for proc in (worker, noop, relay_proc):
            if proc is not None:
                stop_process(proc)
        broker.stop()
    return figures


def start_noop_agent(settings: Settings, web_port: int, log_path: Path) -> subprocess.Popen:
    """The Faust baseline (`bench.noop_agent`): the same topics, batches and broker settings as
    a worker, and nothing done with the messages but acknowledging them."""
    proc = start_process(
        ["-m", "bench.noop_agent", "worker", "-l", "warn", "--web-port", str(web_port)],
        worker_env(settings, web_port),
        log_path,
    )
    wait_for_http(f"http://127.0.0.1:{web_port}/count", timeout=120, process=proc)
    return proc


def noop_count(url: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=5)
    conn.request("GET", "/count")
    count = json.loads(conn.getresponse().read())["count"]
    conn.close()
    return count


def noop_rate(url: str, n: int) -> float:
    """Messages/s of the no-op agent at `url`, from the first it counts until it has taken `n`
    (it starts taking them once it has joined the group)."""
    deadline = time.perf_counter() + 600
    while (first := noop_count(url)) == 0:
        if time.perf_counter() > deadline:
            raise TimeoutError("the no-op agent took nothing")
        time.sleep(0.005)
    t0 = time.perf_counter()
    while (count := noop_count(url)) < n:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"the no-op agent did not finish: {count} of {n}")
        time.sleep(0.05)
    return (count - first) / (time.perf_counter() - t0)


def seconds_to_handle(urls: list[str], inputs: set[str], n: int) -> float:
    """Seconds until the workers together have handled `n` messages from the input topics."""
    t0 = time.perf_counter()
    while True:
        handled = 0
        for url in urls:
            c = health(url)["counters"]
            handled += sum(c.get(f"in.{topic}", 0) for topic in inputs) - c.get("rerouted", 0)
        if handled >= n:
            return time.perf_counter() - t0
        if time.perf_counter() - t0 > 600:
            raise TimeoutError(f"pipeline did not finish: {handled} of {n}")
        time.sleep(0.05)


def workers_throughput(
    broker: EmbeddedBroker, settings: Settings, history: list[SimMessage], var: Path, count: int
) -> float:
    """Scale-out: the same events on an empty broker and lake, `count` worker processes sharing
    the partitions, from the moment each has some."""
    broker.stop()
    broker.start()
    ensure_topics(broker.bootstrap, settings.topic_partitions)
    fresh = Settings(var_dir=var, broker_port=settings.broker_port, web_port=free_port(), kafka_url=None)
    build_catalog(fresh.seed).save(fresh.masterdata_path)
    asyncio.run(produce_all(broker.bootstrap, [(m.topic, m.key.encode(), m.value) for m in history]))
    ports = [fresh.web_port] + [free_port() for _ in range(count - 1)]
    procs = [start_worker(fresh, port, var / f"worker-{port}.log", loglevel="warn") for port in ports]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url, proc in zip(urls, procs, strict=True):
            wait_for_http(url + "/health", timeout=120, process=proc, ready_key="ready")
        deadline = time.monotonic() + 60
        while sum(len(health(u)["partitions"]) for u in urls) != settings.topic_partitions or any(
            not health(u)["partitions"] for u in urls
        ):
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        return len(history) / seconds_to_handle(urls, {m.topic for m in history}, len(history))
    finally:
        for proc in procs:
            stop_process(proc)


def _some_keys(url: str) -> list[str]:
    port = int(url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    keys = []
    for location in ("ST01", "ST02", "WH1"):
        conn.request("GET", f"/stock/{location}", headers=auth())
        body = json.loads(conn.getresponse().read())
        keys += [f"{location}|{item['sku']}" for item in body["items"][:50]]
    conn.close()
    return keys


def wait_for_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"port {port} did not open")


def report(
    figures: list[Figure],
    title: str = "stockflow stream benchmark (same broker, same run)",
    measured: str = "stockflow",
) -> None:
    """`measured`: the heading of the column of values (what was measured)."""
    table = Table(title=title)
    for col in ("figure", measured, "baseline", "ratio", "target", ""):
        table.add_column(col)
    for f in figures:
        table.add_row(
            f.name,
            (f"{f.value:,.1f} {f.unit}" if f.unit.endswith("/s") else f"{f.value:.2f} {f.unit}")
            + (f" ({f.detail})" if f.detail else ""),
            ""
            if f.baseline is None
            else (f"{f.baseline:,.1f}" if f.unit.endswith("/s") else f"{f.baseline:.2f}"),
            "" if f.ratio is None else f"{f.ratio:.2f}×",
            f.target,
            "" if f.ok is None else ("[green]met[/]" if f.ok else "[red]missed[/]"),
        )
    console.print(table)


def report_and_save(figures: list[Figure], title: str, name: str, measured: str = "stockflow") -> None:
    """Print the figures and write them to var/bench/<name>.json."""
    report(figures, title, measured)
    out = Path("var/bench")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(
        json.dumps([{**f.__dict__, "ratio": f.ratio} for f in figures], indent=2, default=str)
    )


def main() -> None:
    figures = run(
        n_events=int(os.environ.get("BENCH_EVENTS", 50_000)),
        rates=tuple(float(r) for r in os.environ.get("BENCH_RATES", "500,3000").split(",")),
        latency_seconds=float(os.environ.get("BENCH_SECONDS", 10)),
        latency_runs=int(os.environ.get("BENCH_RUNS", 5)),
    )
    report_and_save(figures, "stockflow stream benchmark (same broker, same run)", "stream")


if __name__ == "__main__":
    main()
