"""An edge agent process and a network cable a test can pull between it and the workers."""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
from pathlib import Path
from typing import Any

from infra.processes import kill_group, start_process, stop_process, wait_for_http
from tests.support.network import free_port, get_json


class Cable:
    """A TCP relay from a local port to `target_port`. `cut()` closes the port and every
    connection through it, so whoever dials it is refused (the workers cannot be reached);
    `plug()` opens the same port again."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def plug(self) -> Cable:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        if listener is not None:
            listener.close()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._conns += [client, upstream]
            threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class EdgeProcess:
    """`stockflow edge run` as its own process (the same credentials file as the workers')."""

    def __init__(self, var_dir: Path, central_url: str, token: str, locations: list[str], **env: Any) -> None:
        self.var_dir = var_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.outbox = var_dir / "edge" / "outbox.sqlite3"
        self.env = {
            **os.environ,
            "STOCKFLOW_VAR_DIR": str(var_dir),
            "STOCKFLOW_EDGE_CENTRAL_URL": central_url,
            "STOCKFLOW_EDGE_TOKEN": token,
            "STOCKFLOW_EDGE_NAME": "store-box",
            "STOCKFLOW_EDGE_PORT": str(self.port),
            "STOCKFLOW_EDGE_OUTBOX_PATH": str(self.outbox),
            **{f"STOCKFLOW_{k.upper()}": str(v) for k, v in env.items()},
        }
        self.locations = locations
        self.log_path = var_dir / "edge.log"
        self.proc = None

    def start(self) -> EdgeProcess:
        args = ["-m", "cli.main", "edge", "run", *[a for loc in self.locations for a in ("--location", loc)]]
        self.proc = start_process(args, self.env, self.log_path)
        wait_for_http(self.url + "/health", timeout=60, process=self.proc)
        return self

    def health(self) -> dict[str, Any]:
        return get_json(self.url + "/health")

    def kill9(self) -> None:
        assert self.proc is not None
        kill_group(self.proc.pid)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_process(self.proc)

    def outbox_counts(self) -> dict[str, int]:
        """What the outbox holds, read from its file (as a person at the store could)."""
        with sqlite3.connect(f"file:{self.outbox}?mode=ro", uri=True) as db:
            rows = dict(db.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
        return {s: rows.get(s, 0) for s in ("waiting", "sent", "dead_lettered")}

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return ""
