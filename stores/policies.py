"""The company's rules file (`Settings.policies_path`, YAML), read into the core's
`PolicyBook` (`stockflow.compliance`). No file: no rules."""

from __future__ import annotations

from datetime import tzinfo
from pathlib import Path

import yaml

from stockflow.compliance import PolicyBook, PolicySet, parse_policies


class PolicyFileError(ValueError):
    """The rules file cannot be read or is not valid (the message says where)."""


def read_policies(path: Path) -> PolicySet:
    """The rules in `path`; an empty set when there is no such file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return PolicySet()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyFileError(f"{path}: not valid YAML: {exc}") from exc
    if data is not None and not isinstance(data, dict):
        raise PolicyFileError(f"{path}: expected a mapping with `rules:` (and `customer_groups:`)")
    try:
        return parse_policies(data)
    except ValueError as exc:
        raise PolicyFileError(f"{path}: {exc}") from exc


def load_policy_book(path: Path, tz: tzinfo | None = None) -> PolicyBook:
    return PolicyBook(read_policies(path), tz)
