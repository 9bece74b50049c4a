"""Stores: DuckDB books, planning, reconciliation reports and the audit log, adapters behind the services' ports."""
