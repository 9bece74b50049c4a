"""What the command groups share: the console, who is running them, logging, a Prefect server."""

from __future__ import annotations

import logging

from rich.console import Console

from stockflow.config import get_settings

console = Console(stderr=True)


def _whoami() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid
        return "unknown"


def _audit():  # noqa: ANN202
    from stores.audit_log import AuditLog

    return AuditLog(get_settings().var_dir)


def _prefect_server(settings):  # noqa: ANN001, ANN202
    """The local Prefect server's environment; a server of our own when none answers (stop it)."""
    import os
    import urllib.request

    from flows.server import PrefectServer, prefect_env

    os.environ.update(prefect_env(settings))
    try:
        with urllib.request.urlopen(settings.prefect_api_url + "/health", timeout=2):
            return None
    except OSError:
        server = PrefectServer(settings, settings.var_dir / "logs" / "prefect-server.log")
        server.log_path.parent.mkdir(parents=True, exist_ok=True)
        console.print("starting a Prefect server for this run")
        server.start()
        return server


def _show_new_passwords(chosen: dict[str, str]) -> None:
    """The first accounts' passwords (account name → password), shown this once."""
    if chosen:
        console.print(
            "dashboard accounts made for you, one per role (passwords shown once; change one with "
            "`stockflow users passwd NAME`, add people with `stockflow users add NAME --role ROLE`): "
            + ", ".join(f"{name} [bold]{password}[/]" for name, password in chosen.items())
        )


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
