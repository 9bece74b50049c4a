"""The company's rules file (`Settings.policies_path`, YAML), read into the core's
`PolicyBook` (`stockflow.compliance`). No file: no rules. `PolicyFileWatch` tells a running
worker when the file changed, so a rule takes effect without a restart."""

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


class PolicyFileWatch:
    """Whether the rules file changed since it was last read (its modification time, size and
    inode: an editor's save or a rename over it), and its rules then."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.seen = self._stamp()

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            found = self.path.stat()
        except FileNotFoundError:
            return None
        return (found.st_mtime_ns, found.st_size, found.st_ino)

    def changed(self) -> PolicySet | None:
        """The file's rules where it changed (an empty set where it was removed), else None;
        `PolicyFileError` where the new file is not valid (asked again, it is read again only
        after a further change)."""
        stamp = self._stamp()
        if stamp == self.seen:
            return None
        self.seen = stamp
        return read_policies(self.path)
