"""One command as the leader of a process group that lives and dies with its parent.

`infra.processes.start_process` starts every long-running child this way:
``python -m infra.process_group '{"args": [...], "parent": <pid>, "grace": <seconds>}'``.
This process

* asks the kernel for SIGTERM when its parent dies (Linux: PR_SET_PDEATHSIG; it also watches
  its parent's pid, which is what it has elsewhere), so a `kill -9` of `stockflow up` stops it;
* becomes a child subreaper (Linux), so what its command starts stays under it even when the
  process in between exits;
* runs the command as its child, in its own process group, with the same parent-death signal;
* on SIGTERM, SIGINT or SIGHUP, or when its parent is gone, passes SIGTERM to the command and
  SIGKILL after the grace;
* once the command has exited, stops whatever is left in its group or under it (the Prefect
  flow runs of `python -m flows serve`, their dbt processes): SIGTERM, SIGKILL after a grace;
* and exits as the command did (the same code, or killed by the same signal).

Only the standard library, so that it starts quickly."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
SIGTERM = int(signal.SIGTERM)
#: What is left in the group once the command has exited gets this long after SIGTERM.
LEFTOVER_GRACE_SECONDS = 5.0
POLL_SECONDS = 0.1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()


def parent_death_signal() -> Callable[[], None]:
    """A `preexec_fn` for `subprocess.Popen`: the child gets SIGTERM when the thread that starts
    it exits (start children from the main thread), and stops at once if that already happened.
    Linux only (elsewhere it does nothing); the call is resolved before the fork, so the child
    runs no more than one C call and a comparison."""
    parent = os.getpid()
    prctl = _PRCTL

    def preexec() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, SIGTERM)
        if os.getppid() != parent:
            os.kill(os.getpid(), SIGTERM)

    return preexec


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, process group) of `pid` from /proc, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2])


def _leftovers() -> list[int]:
    """Processes still running in our group or reparented to us (Linux: read from /proc)."""
    me, group = os.getpid(), os.getpgid(0)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        stat = _stat(int(entry))
        if stat is None or stat[0] in ("Z", "X"):
            continue
        if stat[2] == group or stat[1] == me:
            found.append(int(entry))
    return found


def _reap(command_pid: int) -> int | None:
    """Collect every child that has exited; the command's exit status when it is one of them."""
    status = None
    while True:
        try:
            pid, raw = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return status
        if pid == 0:
            return status
        if pid == command_pid:
            status = os.waitstatus_to_exitcode(raw)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _clear_group() -> None:
    """Stop what the command left behind: SIGTERM, then SIGKILL after the grace."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if not os.path.isdir("/proc"):  # no way to list them: the group gets one SIGTERM
        os.killpg(os.getpgid(0), signal.SIGTERM)
        return
    told: set[int] = set()
    deadline = time.monotonic() + LEFTOVER_GRACE_SECONDS
    while True:
        _reap(-1)
        left = _leftovers()
        if not left:
            return
        late = time.monotonic() >= deadline
        for pid in left:
            if late:
                _signal(pid, signal.SIGKILL)
            elif pid not in told:
                _signal(pid, signal.SIGTERM)
                told.add(pid)
        if time.monotonic() >= deadline + LEFTOVER_GRACE_SECONDS:
            return  # unkillable (a process stuck in the kernel): nothing more to do
        time.sleep(POLL_SECONDS)


def run(args: list[str], parent: int, grace: float) -> int:
    """Run `args` to its end as described above; its exit code (negative: killed by a signal)."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, SIGTERM)
        _PRCTL(PR_SET_CHILD_SUBREAPER, 1)
    asked: list[int] = []

    def ask(signum: int, frame: object) -> None:
        asked.append(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, ask)
    if os.getppid() != parent:  # the parent died before we could ask to follow it
        return -SIGTERM
    command = subprocess.Popen(args, preexec_fn=parent_death_signal())  # safe: one thread here
    kill_at: float | None = None
    status = None
    while status is None:
        if kill_at is None and (asked or os.getppid() != parent):
            _signal(command.pid, signal.SIGTERM)
            kill_at = time.monotonic() + grace
        elif kill_at is not None and time.monotonic() >= kill_at:
            _signal(command.pid, signal.SIGKILL)
        status = _reap(command.pid)
        if status is None:
            time.sleep(POLL_SECONDS)
    command.returncode = status  # reaped above, not by Popen
    _clear_group()
    return status


def exit_like(status: int) -> None:
    """Exit with the command's code, or be killed by the signal that killed it."""
    if status < 0:
        signum = -status
        if signum != signal.SIGKILL:
            signal.signal(signum, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])
        os.kill(os.getpid(), signum)
        time.sleep(1)  # the signal is delivered before this returns
        status = 128 + signum
    sys.exit(status)


def main() -> None:
    spec = json.loads(sys.argv[1])
    exit_like(run(spec["args"], int(spec["parent"]), float(spec.get("grace", 15.0))))


if __name__ == "__main__":
    main()
