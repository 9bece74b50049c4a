"""`stockflow up`'s processes: the embedded broker (unless external) and the Faust workers; the
record of a running `up` (var/up.json) and its ports, which `stockflow down` reads."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cli.common import t
from infra.kafka import aiokafka_options
from infra.mosquitto import LocalMosquitto, free_local_port
from infra.processes import (
    ProcessInfo,
    alive,
    kill_process,
    port_holders,
    port_taken,
    stack_processes,
    start_process,
    started_at,
    stop_process,
    terminate,
    wait_for_http,
)
from infra.worker_client import client_token
from simulator.run import prepare_company, register_simulated_sensors
from stockflow.config import Settings
from stockflow.editions import has_stock
from stores.credentials import ensure_service_token
from streams.broker import EmbeddedBroker, ensure_topics, wait_for_broker

log = logging.getLogger(__name__)

#: A worker that stayed up this long has its restart backoff reset.
HEALTHY_AFTER_SECONDS = 60.0


@dataclass
class Stack:
    """The processes `stockflow up` runs: embedded broker (unless external) and Faust workers."""

    settings: Settings
    workers: int = 1
    #: Play the simulated company (its master data is prepared before the workers start).
    simulated: bool = True
    broker: EmbeddedBroker | None = None
    #: The local MQTT broker for the devices (unless the company has its own: mqtt_url).
    mqtt: LocalMosquitto | None = None
    bridge_proc: subprocess.Popen | None = None
    worker_procs: list[subprocess.Popen] = field(default_factory=list)
    #: Per worker: when it was (re)started, the next backoff, when it may be restarted, restarts.
    started_at: list[float] = field(default_factory=list)
    backoff: list[float] = field(default_factory=list)
    restart_due: list[float | None] = field(default_factory=list)
    restarts: list[int] = field(default_factory=list)

    @property
    def logs(self) -> Path:
        return self.settings.var_dir / "logs"

    def worker_url(self, i: int) -> str:
        return f"http://{self.settings.web_host}:{self.settings.web_port + i}"

    def start(self, say: Callable[[str], None] = log.info) -> None:
        """Start the broker (unless external) and the workers, from the main thread (each stops
        when the thread that started it ends); return once every worker is ready."""
        s = self.settings
        self.logs.mkdir(parents=True, exist_ok=True)
        if s.embedded_broker:
            self.broker = EmbeddedBroker(s.broker_host, s.broker_port, self.logs / "broker.log")
            self.broker.start()
            say(t("cli.up.broker_ready", bootstrap=self.broker.bootstrap))
        else:
            wait_for_broker(s.bootstrap_servers, security=aiokafka_options(s))
        if s.local_mqtt and has_stock(s.edition):  # the devices are the stock module's
            # its port when free, else another (the bridge and the simulator are told which)
            port = free_local_port(s.mqtt_port)
            self.settings = s = s.model_copy(update={"mqtt_port": port})
            self.mqtt = LocalMosquitto(port, s.var_dir)
            self.mqtt.start()
            say(t("cli.up.mqtt_ready", url=self.mqtt.url))
        ensure_topics(
            s.bootstrap_servers,
            s.topic_partitions,
            1 if s.embedded_broker else 3,
            aiokafka_options(s),
            edition=s.edition,
        )
        if self.simulated:
            prepare_company(s)
            register_simulated_sensors(s)
        ensure_service_token(s)  # the credential the flows and dashboards present to the workers
        for i in range(self.workers):
            self.worker_procs.append(self._start_worker(i))
            self.started_at.append(time.monotonic())
            self.backoff.append(1.0)
            self.restart_due.append(None)
            self.restarts.append(0)
        for i, proc in enumerate(self.worker_procs):
            wait_for_http(self.worker_url(i) + "/health", timeout=120, process=proc, ready_key="ready")
            say(t("cli.up.worker_ready", number=i + 1, url=self.worker_url(i)))
        if has_stock(s.edition):
            self.bridge_proc = self._start_bridge()

    def _start_bridge(self) -> subprocess.Popen:
        """The MQTT bridge (`stockflow mqtt-bridge`): devices into the stream, their health."""
        s = self.settings
        env = worker_env(s, s.web_port)
        env["STOCKFLOW_MQTT_PORT"] = str(s.mqtt_port)
        return start_process(["-m", "cli.main", "mqtt-bridge"], env, self.logs / "mqtt-bridge.log")

    def stop_bridge(self) -> None:
        if self.bridge_proc is not None:
            stop_process(self.bridge_proc)
            self.bridge_proc = None

    def _start_worker(self, i: int) -> subprocess.Popen:
        s = self.settings
        return start_worker(s, s.web_port + i, self.logs / f"worker-{i + 1}.log")

    def watch(self, say: Callable[[str], None] = log.warning) -> None:
        """Restart any worker that died, after a backoff that doubles (up to the setting) while
        it keeps dying and resets once it stays up; say so each time. Call it every second."""
        now = time.monotonic()
        if self.bridge_proc is not None and self.bridge_proc.poll() is not None:
            say(t("cli.up.bridge_restarted", code=self.bridge_proc.returncode, log="mqtt-bridge.log"))
            self.bridge_proc = self._start_bridge()
        for i, proc in enumerate(self.worker_procs):
            if proc.poll() is None:
                if now - self.started_at[i] >= HEALTHY_AFTER_SECONDS:
                    self.backoff[i] = 1.0
                continue
            due = self.restart_due[i]
            if due is None:
                wait = self.backoff[i]
                self.restart_due[i] = now + wait
                self.backoff[i] = min(wait * 2, self.settings.restart_backoff_max_seconds)
                say(t("cli.up.worker_exited", number=i + 1, code=proc.returncode, seconds=f"{wait:.0f}"))
            elif now >= due:
                self.worker_procs[i] = self._start_worker(i)
                self.started_at[i] = now
                self.restart_due[i] = None
                self.restarts[i] += 1
                say(
                    t(
                        "cli.up.worker_restarted",
                        number=i + 1,
                        count=self.restarts[i],
                        log=f"worker-{i + 1}.log",
                    )
                )

    def drain(self, timeout: float, say: Callable[[str], None] = log.warning) -> bool:
        """Wait, the producers stopped, until every worker has taken in all there is and landed
        and acked it: nothing buffered, nothing unacked, and no message taken in for two
        looks a second apart (a consumer fetches every few milliseconds: a second with nothing
        new is an empty topic). True when drained, False at the timeout."""
        deadline = time.monotonic() + timeout
        for i in range(len(self.worker_procs)):  # no new events over HTTP from here on
            try:
                self._post(i, "/drain")
            except OSError as exc:
                say(t("cli.up.drain_refused", number=i + 1, error=exc))
        settled = 0
        last = ""
        taken_before = -1
        while time.monotonic() < deadline:
            try:
                states = [
                    self._held(i)
                    for i in range(len(self.worker_procs))
                    if self.worker_procs[i].poll() is None
                ]
            except (OSError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
                settled = 0
                time.sleep(0.5)
                continue
            held = sum(h for h, _ in states)
            taken = sum(n for _, n in states)
            settled = settled + 1 if held == 0 and taken == taken_before else 0
            taken_before = taken
            if settled >= 2:
                return True
            now = t("cli.up.drain_state", held=held, taken=taken)
            if now != last:
                last = now
                say(t("cli.up.draining", count=held))
            time.sleep(1.0)
        say(t("cli.up.not_drained", seconds=f"{timeout:.0f}", state=last))
        return False

    def _post(self, i: int, path: str) -> None:
        token = client_token(self.settings)
        request = urllib.request.Request(
            self.worker_url(i) + path,
            data=b"{}",
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {token}"} if token else {}),
            },
        )
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 — our own workers
            pass

    def _held(self, i: int) -> tuple[int, int]:
        """(rows not landed + events not acked, messages taken in so far) of worker `i`."""
        with urllib.request.urlopen(self.worker_url(i) + "/health", timeout=10) as resp:  # noqa: S310
            body = json.loads(resp.read())
        if not body.get("ready"):
            raise ValueError(t("cli.up.worker_not_ready", number=i + 1))
        return body["pending_acks"] + body["lake_pending_rows"], body["counters"].get("in", 0)

    def stop(self) -> None:
        self.stop_bridge()
        for proc in self.worker_procs:
            stop_process(proc)
        self.worker_procs.clear()
        if self.mqtt is not None:
            self.mqtt.stop()
        if self.broker is not None:
            self.broker.stop()


def worker_env(settings: Settings, web_port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "STOCKFLOW_VAR_DIR": str(settings.var_dir.resolve()),
            "STOCKFLOW_BROKER_HOST": settings.broker_host,
            "STOCKFLOW_BROKER_PORT": str(settings.broker_port),
            "STOCKFLOW_WEB_HOST": settings.web_host,
            "STOCKFLOW_WEB_PORT": str(web_port),
            "STOCKFLOW_TOPIC_PARTITIONS": str(settings.topic_partitions),
            "STOCKFLOW_SEED": str(settings.seed),
            "STOCKFLOW_EDITION": settings.edition.value,
            "PYTHONUNBUFFERED": "1",
        }
    )
    if settings.kafka_url:
        env["STOCKFLOW_KAFKA_URL"] = settings.kafka_url
    if settings.failpoints:
        env["STOCKFLOW_FAILPOINTS"] = settings.failpoints
    return env


def start_worker(
    settings: Settings, web_port: int, log_path: Path, loglevel: str = "info"
) -> subprocess.Popen:
    """A Faust worker process (the installation's service credential registered for it first)."""
    ensure_service_token(settings)
    return start_process(
        ["-m", "streams", "worker", "-l", loglevel, "--web-port", str(web_port)],
        worker_env(settings, web_port),
        log_path,
    )


def wipe(settings: Settings) -> None:
    if settings.var_dir.exists():
        shutil.rmtree(settings.var_dir)


# A running `up`: its record, its ports, and what holds them.

#: The ports of a stack, by what listens there: "broker", "worker-1", …, "prefect", "dashboard".
Ports = dict[str, tuple[str, int]]
#: How much of a holder's command line a message shows.
COMMAND_SHOWN = 160


def stack_ports(settings: Settings, workers: int) -> Ports:
    """The ports `up` listens on with these settings and this many workers."""
    ports: Ports = {}
    if settings.embedded_broker:
        ports["broker"] = (settings.broker_host, settings.broker_port)
    for i in range(workers):
        ports[f"worker-{i + 1}"] = (settings.web_host, settings.web_port + i)
    ports["prefect"] = (settings.prefect_host, settings.prefect_port)
    ports["dashboard"] = (settings.dashboard_host, settings.dashboard_port)
    return ports


def port_role(name: str) -> str:
    """What listens on a stack's port, in the interface's language."""
    if name.startswith("worker-"):
        return t("cli.up.port.worker", number=name.removeprefix("worker-"))
    roles = {
        "broker": t("cli.up.port.broker"),
        "prefect": t("cli.up.port.prefect"),
        "dashboard": t("cli.up.port.dashboard"),
    }
    return roles.get(name, name)


def shown_command(info: ProcessInfo) -> str:
    command = info.command or t("cli.up.command_unknown")
    return command if len(command) <= COMMAND_SHOWN else command[: COMMAND_SHOWN - 1] + "…"


@dataclass(frozen=True)
class RunRecord:
    """What `up` writes about itself at start (var/up.json) and removes when it has stopped."""

    pid: int
    #: When that process started (see `infra.processes.started_at`): a later process given the
    #: same pid is not it.
    started: int | None
    ports: Ports

    def running(self) -> bool:
        return alive(self.pid) and (self.started is None or started_at(self.pid) == self.started)


def run_record_path(settings: Settings) -> Path:
    return settings.var_dir / "up.json"


def record_run(settings: Settings, ports: Ports) -> RunRecord:
    record = RunRecord(os.getpid(), started_at(os.getpid()), ports)
    path = run_record_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"pid": record.pid, "started": record.started, "ports": {k: list(v) for k, v in ports.items()}}
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(body, indent=1) + "\n")
    tmp.replace(path)
    return record


def read_run_record(settings: Settings) -> RunRecord | None:
    """The record of the last `up` on this var dir (None when there is none, or it is unreadable)."""
    try:
        body = json.loads(run_record_path(settings).read_text())
        ports = {str(k): (str(v[0]), int(v[1])) for k, v in body["ports"].items()}
        return RunRecord(int(body["pid"]), body.get("started"), ports)
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def forget_run(settings: Settings, record: RunRecord) -> None:
    """Remove the record if it is still `record`'s (a later `up` may have replaced it)."""
    if read_run_record(settings) == record:
        run_record_path(settings).unlink(missing_ok=True)


@dataclass(frozen=True)
class HeldPort:
    name: str
    host: str
    port: int
    #: The processes listening on it; empty when this system does not say (or not to us).
    holders: tuple[ProcessInfo, ...]


def held_ports(ports: Ports) -> list[HeldPort]:
    """The ports among `ports` another socket holds, with the processes holding them."""
    taken = {name: (host, port) for name, (host, port) in ports.items() if port_taken(host, port)}
    holders = port_holders(port for _, port in taken.values())
    return [HeldPort(name, host, port, tuple(holders.get(port, ()))) for name, (host, port) in taken.items()]


def report_held_ports(held: list[HeldPort], say: Callable[[str], None]) -> None:
    """Say which ports are held and by what, and how to free them."""
    say(t("cli.up.ports_held", count=len(held)))
    for h in held:
        role = port_role(h.name)
        if not h.holders:
            say(t("cli.up.port_held_unnamed", port=h.port, role=role))
        for info in h.holders:
            say(t("cli.up.port_held_by", port=h.port, role=role, pid=info.pid, command=shown_command(info)))
    holders = [info for h in held for info in h.holders]
    if any(info.stack for info in holders):
        say(t("cli.up.ports_held_stockflow"))
    if not holders or any(not info.stack for info in holders) or any(not h.holders for h in held):
        say(t("cli.up.ports_held_other"))


def leftovers(settings: Settings, ports: Ports) -> list[ProcessInfo]:
    """Processes of a stack whose `up` is gone: those started for this var dir, and stockflow
    processes (of any var dir) holding one of `ports`."""
    found = {info.pid: info for info in stack_processes(settings.var_dir)}
    for holders in port_holders(port for _, port in ports.values()).values():
        for info in holders:
            if info.stack:
                found[info.pid] = info
    return sorted(found.values(), key=lambda info: info.pid)


def stop_leftovers(found: list[ProcessInfo], timeout: float = 20.0) -> list[int]:
    """Stop `found`: SIGTERM to those whose parent is not among them (each takes down what it
    started), then SIGKILL to whatever is left at the deadline; the pids that had to be killed."""
    pids = {info.pid for info in found}
    roots = [info.pid for info in found if info.parent not in pids]
    killed = terminate(roots, timeout)
    for pid in sorted(pids - set(roots)):
        if alive(pid):
            kill_process(pid)
            killed.append(pid)
    return killed
