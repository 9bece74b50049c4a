"""Child processes: start one from the repository root (tied to our life, see
`infra.process_group`), stop several at once, wait for HTTP; who holds a port, which processes
belong to a stack."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def wait_for_http(
    url: str,
    timeout: float = 60.0,
    process: subprocess.Popen | None = None,
    ready_key: str | None = None,
    ready: Callable[[Any], bool] | None = None,
) -> Any:
    """GET `url` until it answers JSON (and, with `ready_key`, until that field is true; with
    `ready`, until it holds for the answer)."""
    if ready is None:
        ready = (lambda body: bool(body.get(ready_key))) if ready_key else (lambda body: True)
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                body = json.loads(resp.read())
            if ready(body):
                return body
            last = RuntimeError(f"not ready yet: {str(body)[:200]}")
            time.sleep(0.3)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = exc
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s: {last}")


def start_process(
    args: list[str], env: dict[str, str], log_path: Path, grace: float = 15.0
) -> subprocess.Popen:
    """`python <args>` from the repository root, logging to `log_path`, in a process group of its
    own (so Ctrl-C reaches it only through us) led by `infra.process_group`: it stops when we
    die, even by SIGKILL, and takes whatever it started with it. The process returned is that
    leader: SIGTERM it to stop the command (SIGKILL after `grace` seconds) and all under it; it
    exits as the command did."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    spec = {"args": [sys.executable, *args], "parent": os.getpid(), "grace": grace}
    with open(log_path, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "infra.process_group", json.dumps(spec)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            cwd=ROOT,
        )


def stop_process(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    stop_processes([proc], timeout)


def stop_processes(procs: list[subprocess.Popen], timeout: float = 20.0) -> None:
    """SIGTERM all at once, wait for them together; at the deadline SIGKILL whatever is left,
    with its process group when it leads one (`start_process`'s children do)."""
    running = [p for p in procs if p.poll() is None]
    for proc in running:
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in running:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            kill_group(proc.pid)
            proc.kill()
            proc.wait()


def kill_group(leader: int) -> None:
    """SIGKILL the process group `leader` leads, if it leads one."""
    try:
        if os.getpgid(leader) == leader:
            os.killpg(leader, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# Who holds a port, which processes belong to a stack (Linux: read from /proc; elsewhere the
# holders stay unnamed and a port's state comes from trying to bind it).

#: Every process `stockflow up` starts has this in its environment: its stack's var dir.
STACK_VARIABLE = "STOCKFLOW_STACK"
_LISTEN, _CLOSED = "0A", "07"


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    command: str
    #: The var dir of the stockflow stack it belongs to (its STOCKFLOW_STACK), if any.
    stack: str | None = None
    parent: int | None = None


def port_taken(host: str, port: int) -> bool:
    """Whether binding `host:port` fails (another socket holds it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _socket_inodes(ports: set[int]) -> dict[int, int]:
    """inode → port of every socket listening (or bound and not connected) on one of `ports`."""
    found: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            port = int(fields[1].rsplit(":", 1)[1], 16)
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if port in ports and (fields[3] == _LISTEN or (fields[3] == _CLOSED and remote_port == 0)):
                found[int(fields[9])] = port
    return found


def _pids() -> list[int]:
    try:
        return [int(e) for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return []


def port_holders(ports: Iterable[int]) -> dict[int, list[ProcessInfo]]:
    """port → the processes holding a socket listening on it (empty where this system does not
    say, or the holder is another user's)."""
    inodes = _socket_inodes(set(ports))
    held: dict[int, list[ProcessInfo]] = {}
    if not inodes:
        return held
    for pid in _pids():
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        ports_held = {
            inodes[int(link[8:-1])]
            for link in links
            if link.startswith("socket:[") and int(link[8:-1]) in inodes
        }
        info = describe(pid) if ports_held else None
        for port in sorted(ports_held):
            if info is not None:
                held.setdefault(port, []).append(info)
    return held


def describe(pid: int) -> ProcessInfo | None:
    """A running process's command line and stack, or None when it is gone (or a zombie)."""
    if not alive(pid):
        return None
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    except OSError:
        return ProcessInfo(pid, "")
    command = " ".join(a.decode(errors="replace") for a in argv)
    return ProcessInfo(pid, command, _stack_of(pid), _stat_field(pid, 1))


def _stack_of(pid: int) -> str | None:
    prefix = f"{STACK_VARIABLE}=".encode()
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    return next((v[len(prefix) :].decode(errors="replace") for v in environ if v.startswith(prefix)), None)


def _stat_field(pid: int, index: int) -> int | None:
    """A number from /proc/<pid>/stat, counted from the field after the command (1: the parent
    pid, 19: the start time); None where there is no such file."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[index])


def alive(pid: int) -> bool:
    """Whether `pid` is running (a zombie is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except OSError:
        return True  # no /proc here: the signal check is all there is
    return stat[stat.rindex(")") + 2] not in "ZX"


def started_at(pid: int) -> int | None:
    """When `pid` started (clock ticks since boot), to tell it from a later process given the
    same pid; None where this system does not say."""
    return _stat_field(pid, 19)


def stack_processes(var_dir: Path) -> list[ProcessInfo]:
    """Every running process started for the stack whose var dir is `var_dir` (its environment
    says so), but this one."""
    stack = str(var_dir.resolve())
    found = []
    for pid in _pids():
        if pid != os.getpid() and _stack_of(pid) == stack:
            info = describe(pid)
            if info is not None:
                found.append(info)
    return found


def terminate(pids: Iterable[int], timeout: float = 20.0) -> list[int]:
    """SIGTERM every one of `pids`, wait until they are gone, SIGKILL those left at the
    deadline; the pids that had to be killed."""
    pids = [p for p in pids if alive(p)]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    killed = [p for p in pids if alive(p)]
    for pid in killed:
        kill_process(pid)
    return killed


def kill_process(pid: int) -> None:
    """SIGKILL `pid` if it is still there."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
