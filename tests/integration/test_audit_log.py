"""The audit log file and `stockflow audit verify`, tampered with in each of the four ways."""

import json
import os
import subprocess
import sys
import threading

import pytest

from stockflow.audit import entry_hash
from stores.audit_log import AuditLog, AuditLogError

pytestmark = pytest.mark.integration


def verify(var):
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "audit", "verify"],
        env={**os.environ, "STOCKFLOW_VAR_DIR": str(var), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def written(tmp_path, n=5):
    log = AuditLog(tmp_path)
    for i in range(n):
        log.append("李会计", "period.closed", f"period 2026-0{i + 1}", "finance", "month end")
    return log, log.path.read_text(encoding="utf-8").splitlines()


def rewrite(log, lines):
    log.path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_appends_from_many_writers_form_one_chain(tmp_path):
    log = AuditLog(tmp_path)

    def write(who):
        for i in range(20):
            AuditLog(tmp_path).append(who, "dashboard.exported", f"file-{i}.csv")

    threads = [threading.Thread(target=write, args=(f"w{k}",)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    verdict = log.verify()
    assert verdict.ok and verdict.entries == 80
    assert [r["seq"] for r in log.records()] == list(range(1, 81))
    result = verify(tmp_path)
    assert result.returncode == 0 and "intact: 80 entries" in result.stderr


@pytest.mark.parametrize("tampering", ["edited", "deleted", "inserted", "reordered"])
def test_verify_names_the_first_bad_entry(tmp_path, tampering):
    log, lines = written(tmp_path)
    if tampering == "edited":
        lines[2] = lines[2].replace("month end", "nothing to see")
        expected = 3
    elif tampering == "deleted":
        del lines[1]
        expected = 2
    elif tampering == "inserted":  # a well-formed entry, hashed and linked to the one before
        forged = {
            **json.loads(lines[1]),
            "actor": "intruder",
            "seq": 3,
            "prev_hash": json.loads(lines[1])["hash"],
        }
        forged["hash"] = entry_hash(forged)
        lines.insert(2, json.dumps(forged, ensure_ascii=False))
        expected = 3
    else:
        lines[3], lines[4] = lines[4], lines[3]
        expected = 4
    rewrite(log, lines)
    result = verify(tmp_path)
    assert result.returncode == 1, result.stderr
    assert f"broken at entry {expected} " in result.stderr and tampering in result.stderr, result.stderr


def test_an_unreadable_last_entry_stops_further_appends(tmp_path):
    log, lines = written(tmp_path, 2)
    rewrite(log, [*lines[:-1], "{not json"])
    with pytest.raises(AuditLogError, match="audit verify"):
        log.append("x", "period.closed", "period 2026-03")
    assert "unreadable" in verify(tmp_path).stderr
