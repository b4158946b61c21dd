"""The durable store: transfer records, the transfer event log, outcomes and reports.

Modules:
    db: engines for SQLite (default) and PostgreSQL.
    models: the `transfers` and `transfer_events` tables.
    schema: creating and upgrading the schema with the Alembic migrations.
    outcomes: a transfer's outcome and durations, derived from its events (pure).
    privacy: hashing, encryption and rounding of personal fields; `TransferRecord`.
    repository: idempotent writes (`save_event`, `save_transfer`) and retention.
    reports: partnership figures computed in SQL.
"""
