"""A local MQTT broker for the devices: Debian's mosquitto on 127.0.0.1, no persistence, its
configuration written under var/ (`stockflow up` starts it unless `STOCKFLOW_MQTT_URL` names
the company's own broker; the tests start one per module)."""

from __future__ import annotations

import getpass
import logging
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from infra.process_group import parent_death_signal

log = logging.getLogger(__name__)

#: Where Debian installs it (`apt-get install mosquitto`; `make install` does).
MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto")


class MosquittoError(RuntimeError):
    pass


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or next((p for p in MOSQUITTO_PATHS if Path(p).exists()), None)
    if found is None:
        raise MosquittoError(
            "mosquitto is not installed: `make install` installs it (apt-get install mosquitto)"
        )
    return found


def mosquitto_config(port: int) -> str:
    return "\n".join(
        [
            f"listener {port} 127.0.0.1",
            # run as whoever starts it: mosquitto started as root would switch to its own user,
            # and a change of user clears the signal that stops it when its parent dies
            f"user {getpass.getuser()}",
            "allow_anonymous true",  # the loopback only: nothing outside this machine reaches it
            "persistence false",
            "max_packet_size 1048576",
            "max_queued_messages 100000",
            "log_dest stdout",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "",
        ]
    )


def free_local_port(preferred: int) -> int:
    """`preferred` when nothing listens there on 127.0.0.1, else a free port the system picks."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            pass
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalMosquitto:
    """A mosquitto process; it gets SIGTERM when the thread that started it exits (Linux)."""

    def __init__(self, port: int, var_dir: Path) -> None:
        self.port = port
        self.config_path = var_dir / "mosquitto" / "mosquitto.conf"
        self.log_path = var_dir / "logs" / "mosquitto.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        binary = mosquitto_binary()
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(mosquitto_config(self.port))
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                [binary, "-c", str(self.config_path)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=parent_death_signal(),
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise MosquittoError(f"mosquitto exited (port {self.port} in use?); see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    log.info("mosquitto listening on %s (pid %d)", self.url, self.process.pid)
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise MosquittoError(f"mosquitto did not start on {self.url}; see {self.log_path}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
