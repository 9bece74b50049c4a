"""Processes: nothing `stockflow up` or `stockflow broker` starts outlives them, whether they stop
on SIGTERM or are killed with SIGKILL; `up` refuses ports that are held, naming the holder;
`stockflow down` stops a running `up`; `up --rate 0` plays the history and no live stream.

The oracles read the system, not the code under test: /proc for the processes (their parent
pids, and the var dir their environment names) and a plain connect for the ports."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import free_port, kill_left_behind, wait_until

pytestmark = pytest.mark.faults

PORTS = ("broker", "web", "prefect", "dashboard")


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command name (state, ppid, …), None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def running(pid: int, started: str | None = None) -> bool:
    """Whether `pid` runs (a zombie has ended), and is the process that started at `started`."""
    fields = stat(pid)
    return fields is not None and fields[0] not in ("Z", "X") and started in (None, fields[19])


def descendants(root: int) -> dict[int, str]:
    """pid → start time of every process under `root`."""
    children: dict[int, list[int]] = {}
    started = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            started[int(entry.name)] = fields[19]
    found, pending = {}, [root]
    while pending:
        for child in children.get(pending.pop(), []):
            found[child] = started[child]
            pending.append(child)
    return found


def of_var_dir(var: Path) -> list[int]:
    """Running processes whose environment names `var` (everything `up` starts inherits it)."""
    markers = {f"STOCKFLOW_VAR_DIR={path}".encode() for path in (var, var.resolve())}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if markers & set(environ) and running(int(entry.name)):
            found.append(int(entry.name))
    return found


def stockflow(*args: str, env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], env=env, capture_output=True, text=True, **kwargs
    )


class Up:
    """`stockflow up` on its own var dir and free ports: one day of history, no live stream."""

    def __init__(self, tmp: Path) -> None:
        self.var = tmp / "var"
        self.ports = {name: free_port() for name in PORTS}
        self.log_path = tmp / "up.log"
        self.env = {
            **os.environ,
            "STOCKFLOW_VAR_DIR": str(self.var),
            "STOCKFLOW_BROKER_PORT": str(self.ports["broker"]),
            "STOCKFLOW_WEB_PORT": str(self.ports["web"]),
            "STOCKFLOW_PREFECT_PORT": str(self.ports["prefect"]),
            "STOCKFLOW_DASHBOARD_PORT": str(self.ports["dashboard"]),
            "STOCKFLOW_HISTORY_DAYS": "1",
            "STOCKFLOW_DRAIN_TIMEOUT_SECONDS": "20",
        }
        self.proc: subprocess.Popen | None = None

    def start(self, *args: str) -> "Up":
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "up", *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_until(
            lambda: "Ctrl-C stops everything" in self.log() or self.proc.poll() is not None, 240, "the banner"
        )
        assert self.proc.poll() is None, self.log()[-3000:]
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def close(self) -> None:
        """Whatever a failed test left: SIGKILL `up` and every process of its var dir."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        kill_left_behind(self.var)


@pytest.fixture
def up(tmp_path):
    run = Up(tmp_path)
    yield run
    run.close()


def test_up_killed_with_sigkill_leaves_no_process_and_no_port_held(up):
    up.start("--fresh", "--rate", "0")
    assert all(listening(port) for port in up.ports.values()), up.ports
    tree = descendants(up.proc.pid)
    assert len(tree) >= 5, tree  # the broker, a worker, the Prefect server, the flows, the dashboard
    up.proc.kill()
    up.proc.wait()
    wait_until(
        lambda: not any(listening(port) for port in up.ports.values()),
        10,
        "every port of the killed up free",
        0.1,
    )
    wait_until(
        lambda: (
            not [pid for pid, started in tree.items() if running(pid, started)] and not of_var_dir(up.var)
        ),
        20,
        "every process of the killed up to exit",
        0.2,
    )
    # nothing left for `stockflow down` to stop; it says so and succeeds
    down = stockflow("down", env=up.env, timeout=60)
    assert down.returncode == 0, down.stderr
    assert "not running" in down.stderr, down.stderr


def test_up_with_rate_0_plays_no_live_stream_refuses_a_second_up_and_stops_with_down(up):
    up.start("--fresh", "--rate", "0")
    wait_until(lambda: "no live stream" in up.log(), 120, "the history written")
    # the simulator says "live:" when it starts a live stream (before, --rate 0 meant: as fast as
    # it can); `up` keeps serving the history instead of ending with it
    assert "live:" not in up.log()
    assert up.proc.poll() is None
    # a second `up` on the same folder refuses to start, naming the one running
    second = stockflow("up", env=up.env, timeout=120)
    assert second.returncode == 1, second.stderr
    assert str(up.proc.pid) in second.stderr and "stockflow down" in second.stderr, second.stderr
    tree = descendants(up.proc.pid)
    down = stockflow("down", env=up.env, timeout=180)
    assert down.returncode == 0, down.stderr
    assert up.proc.wait(timeout=30) == 0  # `up` stopped on its own terms (drained, then stopped)
    assert "drained: every event taken is in the lake" in up.log(), up.log()[-3000:]
    assert not any(listening(port) for port in up.ports.values())
    assert not [pid for pid, started in tree.items() if running(pid, started)]
    assert not of_var_dir(up.var)
    again = stockflow("down", env=up.env, timeout=60)
    assert again.returncode == 0 and "not running" in again.stderr, again.stderr


def test_up_refuses_ports_held_by_another_process_and_names_it(tmp_path):
    run = Up(tmp_path)
    holder = socket.socket()
    holder.bind(("127.0.0.1", run.ports["dashboard"]))
    holder.listen()
    try:
        refused = stockflow("up", "--fresh", env=run.env, timeout=120)
    finally:
        holder.close()
        run.close()
    assert refused.returncode == 1, refused.stderr
    # the holder (this test's process) is named by its pid, with the port it holds
    assert f"port {run.ports['dashboard']}" in refused.stderr, refused.stderr
    assert f"pid {os.getpid()}" in refused.stderr, refused.stderr
    assert "STOCKFLOW_DASHBOARD_PORT" in refused.stderr, refused.stderr
    assert "stockflow is up" not in refused.stderr
    assert not any(listening(run.ports[name]) for name in ("broker", "web", "prefect")), "up started anyway"


def test_up_refusal_reads_in_chinese(tmp_path):
    run = Up(tmp_path)
    holder = socket.socket()
    holder.bind(("127.0.0.1", run.ports["broker"]))
    holder.listen()
    try:
        refused = stockflow("up", env={**run.env, "STOCKFLOW_LANGUAGE": "zh_CN"}, timeout=120)
    finally:
        holder.close()
        run.close()
    assert refused.returncode == 1
    assert f"端口 {run.ports['broker']}（消息代理）：进程号 {os.getpid()}" in refused.stderr, refused.stderr


def test_down_stops_what_a_run_left_behind_on_its_ports(tmp_path):
    """A process of an earlier run whose `up` is gone (as after a kill -9 on a system without
    parent-death signals) holds a port: `up` names it and points at `down`, which stops it."""
    run = Up(tmp_path)
    port = run.ports["web"]
    env = {**run.env, "STOCKFLOW_STACK": str(run.var.resolve())}  # as `up` marks what it starts
    left = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: listening(port), 30, "the left-over process listening")
        refused = stockflow("up", env=run.env, timeout=120)
        assert refused.returncode == 1, refused.stderr
        assert f"pid {left.pid}" in refused.stderr and "stockflow down" in refused.stderr, refused.stderr
        down = stockflow("down", env=run.env, timeout=120)
        assert down.returncode == 0, down.stderr
        assert f"pid {left.pid}" in down.stderr, down.stderr
        assert left.wait(timeout=10) is not None
        assert not listening(port)
    finally:
        if left.poll() is None:
            left.kill()
        run.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_broker_command_stopped_leaves_no_broker_binary(tmp_path, signum):
    port = free_port()
    env = {**os.environ, "STOCKFLOW_VAR_DIR": str(tmp_path / "var")}
    log = tmp_path / "broker.log"
    with open(log, "wb") as out:
        broker = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "broker", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(
            lambda: "broker ready" in log.read_text() or broker.poll() is not None, 60, "the broker ready"
        )
        assert listening(port), log.read_text()
        tree = descendants(broker.pid)
        assert any(
            "tansu" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace") for pid in tree
        )
        broker.send_signal(signum)
        code = broker.wait(timeout=30)
        wait_until(
            lambda: not [pid for pid, started in tree.items() if running(pid, started)],
            10,
            "the broker binary to exit",
            0.1,
        )
        assert not listening(port)
        if signum == signal.SIGTERM:
            assert code == 0
    finally:
        if broker.poll() is None:
            broker.kill()
        kill_left_behind(tmp_path / "var")


# What the started command starts: one grandchild in the command's process group, one in a
# group of its own (setsid); the command writes their pids where the test reads them.
COMMAND = """
import subprocess, sys, time
from pathlib import Path
same = subprocess.Popen(["sleep", "600"])
apart = subprocess.Popen(["sleep", "601"], start_new_session=True)
Path(sys.argv[1]).write_text(f"{same.pid} {apart.pid}")
time.sleep(600)
"""
# The parent: starts the command as `up` starts its children, then waits to be killed.
PARENT = """
import os, sys, time
from pathlib import Path
from infra.processes import start_process
proc = start_process(["-c", sys.argv[1], sys.argv[2]], dict(os.environ), Path(sys.argv[3]))
print(proc.pid, flush=True)
time.sleep(600)
"""


def test_a_killed_parent_takes_its_children_and_theirs_with_it(tmp_path):
    pids_file = tmp_path / "pids"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, COMMAND, str(pids_file), str(tmp_path / "child.log")],
        stdout=subprocess.PIPE,
        text=True,
    )
    tree: dict[int, str] = {}
    try:
        wait_until(lambda: pids_file.exists() and pids_file.read_text(), 30, "the grandchildren started")
        tree = descendants(parent.pid)
        grandchildren = [int(p) for p in pids_file.read_text().split()]
        assert set(grandchildren) <= set(tree), (grandchildren, tree)
        parent.kill()
        parent.wait()
        wait_until(
            lambda: not [pid for pid, started in tree.items() if running(pid, started)],
            10,
            "the children of the killed parent, and theirs, to exit",
            0.1,
        )
    finally:
        if parent.poll() is None:
            parent.kill()
        for pid, started in tree.items():
            if running(pid, started):
                os.kill(pid, signal.SIGKILL)
