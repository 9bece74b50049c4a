"""Free ports and small HTTP calls (JSON in, JSON out)."""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
import uuid
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def auth_headers(token: str | None = None) -> dict[str, str]:
    """The session's service credential (tests/conftest.py), or `token`."""
    token = token or os.environ.get("STOCKFLOW_API_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def get_json(url: str, timeout: float = 5.0, token: str | None = None) -> Any:
    with urllib.request.urlopen(
        urllib.request.Request(url, headers=auth_headers(token)), timeout=timeout
    ) as resp:
        return json.loads(resp.read())


def post_multipart(url: str, fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[int, Any]:
    """A ``multipart/form-data`` POST (fields and files: name → (file name, bytes)); JSON back."""
    boundary = f"----stockflow{uuid.uuid4().hex}"
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for name, (filename, data) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(head.encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    req = urllib.request.Request(
        url,
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", **auth_headers()},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def post_json(url: str, body: Any, token: str | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **auth_headers(token)},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def call(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """(status, parsed JSON body) of one request with exactly the headers given (no credential
    added); a body that is not JSON comes back as {"raw": its first bytes}."""
    req = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw, status = resp.read(), resp.status
    except urllib.error.HTTPError as err:
        raw, status = err.read(), err.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, {"raw": raw[:200]}
