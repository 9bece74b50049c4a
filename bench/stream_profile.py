"""Where one worker spends its time: py-spy samples it while it takes in the stream benchmark's
50,000 events (already on the broker), and the hottest functions are printed by own time and
by time including what they call.

    python -m bench.stream_profile            # BENCH_EVENTS=50000, samples at 200/s
    python -m bench.stream_profile --flame F  # also write the collapsed stacks to F

It needs permission to read another process's memory (root, or CAP_SYS_PTRACE)."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from bench.pipeline import (
    START,
    free_port,
    messages_for,
    noop_rate,
    produce_all,
    seconds_to_handle,
    start_noop_agent,
)
from cli.supervisor import start_worker
from infra.processes import stop_process, wait_for_http
from simulator.company import Simulation, build_catalog
from stockflow.config import Settings
from stockflow.identity import new_token
from streams.broker import EmbeddedBroker, ensure_topics


def worker_pid(leader: int) -> int:
    """The worker under its process-group leader (`infra.process_group`)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for task in Path(f"/proc/{leader}/task").iterdir():
            children = (task / "children").read_text().split()
            if children:
                return int(children[0])
        time.sleep(0.05)
    raise RuntimeError(f"no worker under {leader}")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread of a process, by thread name (same names summed)."""
    out: dict[str, float] = Counter()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = "main" if task.name == str(pid) else f"thread {task.name}"
            out[name] += cpu_seconds_of(task / "stat")
        except OSError:
            continue
    return out


def cpu_seconds_of(stat: Path) -> float:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def user_system(pid: int) -> tuple[float, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def frames(line: str) -> tuple[list[str], int]:
    """A collapsed stack (`a;b;c 12`) as its frames, outermost first, and its sample count."""
    stack, _, count = line.rpartition(" ")
    return [f.split(" (")[0] + " " + f.rsplit("/", 1)[-1].rstrip(")") for f in stack.split(";")], int(count)


def summarise(collapsed: Path, top: int) -> str:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        if not line.strip() or not line.rpartition(" ")[2].isdigit():
            continue
        stack, count = frames(line)
        samples += count
        own[stack[-1]] += count
        for frame in set(stack):
            total[frame] += count
    out = [f"{samples} samples"]
    for title, counter in (("own time", own), ("including callees", total)):
        out.append(f"\n-- top {top} by {title}")
        out += [f"{100 * n / samples:5.1f}%  {name}" for name, n in counter.most_common(top)]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=int(os.environ.get("BENCH_EVENTS", 50_000)))
    parser.add_argument("--rate", type=int, default=200, help="samples per second")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--noop", action="store_true", help="the no-op Faust agent instead of a worker")
    parser.add_argument("--idle", action="store_true", help="sample idle threads too")
    parser.add_argument("--flame", type=Path, help="keep the collapsed stacks here")
    args = parser.parse_args()
    os.environ.setdefault("STOCKFLOW_API_TOKEN", new_token()[0])
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))

    tmp = Path(tempfile.mkdtemp(prefix="stockflow-profile-"))
    broker_port, web_port = free_port(), free_port()
    settings = Settings(var_dir=tmp / "var", broker_port=broker_port, web_port=web_port, kafka_url=None)
    broker = EmbeddedBroker("127.0.0.1", broker_port, tmp / "broker.log")
    broker.start()
    worker = None
    try:
        ensure_topics(broker.bootstrap, settings.topic_partitions)
        catalog = build_catalog(settings.seed)
        catalog.save(settings.masterdata_path)
        sim = Simulation(catalog, seed=settings.seed)
        history = list(sim.messages(sim.history(START, 0)))
        day = START
        while len(history) < args.events:
            history += messages_for(sim, 1, day)
            day += timedelta(days=1)
        history = history[: args.events]
        asyncio.run(produce_all(broker.bootstrap, [(m.topic, m.key.encode(), m.value) for m in history]))
        url = f"http://127.0.0.1:{web_port}"
        if args.noop:
            worker = start_noop_agent(settings, web_port, tmp / "noop.log")
        else:
            worker = start_worker(settings, web_port, tmp / "worker.log", loglevel="warn")
        pid = worker_pid(worker.pid)
        if not args.noop:
            wait_for_http(url + "/health", timeout=120, process=worker, ready_key="ready")
        collapsed = args.flame or tmp / "stacks.txt"
        sampler = subprocess.Popen(
            [spy, "record", "--pid", str(pid), "--rate", str(args.rate), "--format", "raw"]
            + ["--output", str(collapsed), "--nonblocking"]
            + (["--idle"] if args.idle else []),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        threads_before = thread_cpu(pid)
        us_before = user_system(pid)
        cpu_before = {name: cpu_seconds(p) for name, p in (("worker", pid), ("broker", broker.process.pid))}
        if args.noop:
            seconds = len(history) / noop_rate(url, len(history))
        else:
            seconds = seconds_to_handle([url], {m.topic for m in history}, len(history))
        threads = thread_cpu(pid)
        us = [a - b for a, b in zip(user_system(pid), us_before, strict=True)]
        print(f"worker user {us[0]:.1f} s, system {us[1]:.1f} s")
        threads = {name: used - threads_before.get(name, 0.0) for name, used in threads.items()}
        cpu = {
            name: cpu_seconds(p) - cpu_before[name]
            for name, p in (("worker", pid), ("broker", broker.process.pid))
        }
        sampler.send_signal(2)  # py-spy writes what it sampled on SIGINT
        sampler.wait(timeout=60)
        print(f"{len(history)} events in {seconds:.1f} s: {len(history) / seconds:,.0f} events/s (sampled)")
        print(
            ", ".join(
                f"{name} {used:.1f} CPU-s ({used / seconds:.0%} of a core)" for name, used in cpu.items()
            )
        )
        print(
            "threads:",
            ", ".join(f"{n} {u:.1f}" for n, u in sorted(threads.items(), key=lambda t: -t[1]) if u > 0.05),
        )
        print(summarise(collapsed, args.top))
    finally:
        if worker is not None:
            stop_process(worker)
        broker.stop()


if __name__ == "__main__":
    main()
