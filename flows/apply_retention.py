"""`apply_retention`: pseudonymise the personal data that is due, keep the rest, audit each class.

Each data class (`stockflow.retention.DataClass`) gets its cut-off day from its period in the
settings and one audit entry per run (`retention.applied`: the class, its treatment, the cut-off
day, how many records were due and how many values changed). The entry of a class that is
pseudonymised is written before the files are rewritten, holding the master-data lock, so
nothing changes unaudited; vouchers, ledgers and the audit trail are kept: their entry records
the cut-off and that nothing was touched."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from stockflow.config import get_settings
from stockflow.retention import (
    ClassOutcome,
    DataClass,
    RetentionRule,
    Treatment,
    due_versions,
    retention_rules,
)
from stockflow.services.auditing import recorded_first
from stores.audit_log import AuditLog
from stores.crypto import load_key_file
from stores.masterdata import MasterDataFiles

#: who the audit trail names for a run
ACTOR = "flow:apply_retention"
ACTION = "retention.applied"
#: an audit entry lists at most this many versions (the count is always whole)
AUDIT_VERSIONS_LISTED = 1000
_TARGETS = {
    DataClass.PERSONAL: "personal data in the master-data history",
    DataClass.BOOKS: "vouchers, ledgers and books",
    DataClass.AUDIT: "audit trail",
}


@task(cache_policy=NO_CACHE)
def pseudonymise_personal_data(var_dir: str, rule: RetentionRule, today: date) -> dict[str, Any]:
    """Pseudonymise the master-data versions whose record stopped being in use before the
    cut-off day; the audit entry first, under the master-data lock."""
    settings = get_settings()
    root = Path(var_dir)
    cutoff = rule.cutoff(today)
    store = MasterDataFiles(root / "masterdata.json", root / "lake")
    audit = AuditLog(root)
    with store.lock():
        due = due_versions(store.change_dates(), cutoff, settings.tz)
        # the key only where something is due: a company without one has nothing to pseudonymise yet
        keys = load_key_file(settings.key_path, root) if due else None
        outcome = ClassOutcome(rule.data_class, rule.treatment, cutoff, due=len(due))
        details = {**outcome.details(), "versions": sorted(due)[:AUDIT_VERSIONS_LISTED]}
        with recorded_first(audit, ACTOR, ACTION, _TARGETS[rule.data_class], details=details):
            changed = store.pseudonymise_versions(set(due), keys.pseudonym_key) if keys else 0
    return ClassOutcome(rule.data_class, rule.treatment, cutoff, len(due), changed).details()


@task(cache_policy=NO_CACHE)
def record_kept(var_dir: str, rule: RetentionRule, today: date) -> dict[str, Any]:
    """The audit entry of a class kept whole for its period: its cut-off, nothing touched."""
    outcome = ClassOutcome(rule.data_class, rule.treatment, rule.cutoff(today))
    AuditLog(Path(var_dir)).append(ACTOR, ACTION, _TARGETS[rule.data_class], details=outcome.details())
    return outcome.details()


@flow(name="apply_retention")
def apply_retention(var_dir: str | None = None, today: date | None = None) -> list[dict[str, Any]]:
    """Pseudonymise the personal data that is due, keep the books, and audit each data class."""
    logger = get_run_logger()
    settings = get_settings()
    root = str(Path(var_dir) if var_dir else settings.var_dir)
    day = today or datetime.now(settings.tz).date()
    outcomes = []
    for rule in retention_rules(settings.retention_personal_months, settings.retention_books_years).values():
        if rule.treatment is Treatment.PSEUDONYMISE:
            outcome = pseudonymise_personal_data(root, rule, day)
        else:
            outcome = record_kept(root, rule, day)
        logger.info(
            "%s: cut-off %s, %d due, %d values changed",
            outcome["data_class"],
            outcome["cutoff"],
            outcome["due"],
            outcome["values_changed"],
        )
        outcomes.append(outcome)
    return outcomes
