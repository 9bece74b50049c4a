"""The audit log file and `stockflow audit verify`, tampered with in each of the four ways, cut
below an anchor, rewritten behind one, and held to heads written down elsewhere."""

import json
import os
import subprocess
import sys
import threading

import pytest

from stockflow.audit import entry_hash, verify_chain
from stores.audit_log import AuditLog, AuditLogError

pytestmark = pytest.mark.integration


def stockflow(var, *args, **env):
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env={**os.environ, "STOCKFLOW_VAR_DIR": str(var), "COLUMNS": "300", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def verify(var, *args, **env):
    return stockflow(var, "audit", "verify", *args, **env)


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


# ----------------------------------------------------------------------------- anchors
def anchored(tmp_path, n=12, every=5):
    """n entries; the appends anchor the head every `every` entries."""
    log = AuditLog(tmp_path, anchor_every=every)
    for i in range(n):
        log.append("王经理", "suggestion.approved", f"transfer suggestion s-{i}", "manager")
    return log, log.path.read_text(encoding="utf-8").splitlines()


def test_the_appends_anchor_the_head_every_n_entries_and_verify_anchors_it_too(tmp_path):
    log, lines = anchored(tmp_path)
    assert [(a.entries, a.hash, a.why) for a in log.anchors()] == [
        (5, json.loads(lines[4])["hash"], "every 5 entries"),
        (10, json.loads(lines[9])["hash"], "every 5 entries"),
    ]
    result = verify(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "intact: 12 entries" in result.stderr and "holds 2 anchors" in result.stderr
    last = log.anchors()[-1]
    assert (last.entries, last.hash, last.why) == (12, json.loads(lines[-1])["hash"], "verify")


@pytest.mark.parametrize("keep", [9, 11, 0])
def test_a_log_cut_below_an_anchor_fails_verify_naming_the_anchor(tmp_path, keep):
    log, lines = anchored(tmp_path)
    assert verify(tmp_path).returncode == 0  # anchors entry 12
    if keep:
        rewrite(log, lines[:keep])
    else:
        log.path.write_text("")
    result = verify(tmp_path)
    assert result.returncode == 1, result.stderr
    anchor = next(a for a in log.anchors() if a.entries > keep)
    assert "truncated" in result.stderr and f"names entry {anchor.entries}" in result.stderr
    assert f"hash {anchor.hash}" in result.stderr and f"ends at entry {keep}" in result.stderr
    assert len(log.anchors()) == 3  # a broken chain is not anchored


def test_a_log_rewritten_behind_an_anchor_fails_verify(tmp_path):
    log, lines = anchored(tmp_path, n=7)
    rebuilt, previous = [], None
    for i, line in enumerate(lines):  # every entry rewritten from the third on, hashes and links too
        row = json.loads(line)
        if i >= 2:
            row["reason"] = "nothing to see"
        row["prev_hash"] = previous or row["prev_hash"]
        row["hash"] = entry_hash(row)
        previous = row["hash"]
        rebuilt.append(json.dumps(row, ensure_ascii=False))
    rewrite(log, rebuilt)
    assert verify_chain(log.records()).ok  # the chain alone holds
    result = verify(tmp_path)
    assert result.returncode == 1 and "rewritten: entry 5 has hash" in result.stderr, result.stderr


def test_verify_with_a_head_written_down_elsewhere(tmp_path):
    log, lines = anchored(tmp_path, n=3)
    head = stockflow(tmp_path, "audit", "head")
    assert head.returncode == 0, head.stderr
    entries, head_hash, _at = head.stdout.split()
    assert (int(entries), head_hash) == (3, json.loads(lines[-1])["hash"])
    log.append("李会计", "period.closed", "period 2026-03")
    assert verify(tmp_path, "--anchor", head_hash).returncode == 0
    wrong = "f" * 64
    result = verify(tmp_path, "--anchor", head_hash, "--anchor", wrong)
    assert result.returncode == 1 and f"the head {wrong} given is not the hash of any entry" in result.stderr
    # the log cut back to two entries: the head written down is gone, and no anchor file needed
    log.anchor_path.unlink()
    rewrite(log, lines[:2])
    result = verify(tmp_path, "--anchor", head_hash)
    assert result.returncode == 1 and head_hash in result.stderr


def test_the_anchor_file_goes_where_the_setting_says(tmp_path):
    var, elsewhere = tmp_path / "var", tmp_path / "worm" / "anchors.jsonl"
    AuditLog(var).append("王经理", "period.closed", "period 2026-03")
    result = verify(var, STOCKFLOW_AUDIT_ANCHOR_FILE=str(elsewhere))
    assert result.returncode == 0, result.stderr
    (line,) = elsewhere.read_text().splitlines()
    assert json.loads(line)["entries"] == 1 and not (var / "audit_anchors.jsonl").exists()
    AuditLog(var).path.write_text("")
    result = verify(var, STOCKFLOW_AUDIT_ANCHOR_FILE=str(elsewhere))
    assert result.returncode == 1 and "truncated" in result.stderr
