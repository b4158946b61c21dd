"""Is the store usable: reachable, and migrated to the revision this code expects?

Used by `/readyz`, by `/metrics` (which leaves the store's figures out when it is not) and
by `gateway check`. One cheap query: the Alembic revision the database is at.
"""

from __future__ import annotations

from functools import cache

from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from gateway.adapters.store.schema import alembic_config


@cache
def head_revision() -> str:
    """The newest migration this code ships (read once from migrations/)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "migrations/ holds no revision"
    return head


def store_problem(engine: Engine) -> str | None:
    """None when the store answers and is at the newest revision; else what is wrong.

    The message names no host, user or password (the URL stays out of it): it is served
    by the unauthenticated /readyz.
    """
    try:
        with engine.connect() as connection:
            current = connection.execute(text("SELECT version_num FROM alembic_version"))
            revisions = {row[0] for row in current}
    except SQLAlchemyError as exc:
        if _unreachable(exc):
            return "store unreachable"
        return "store not migrated (run `gateway store migrate`)"
    if head_revision() not in revisions:
        return "store not migrated to the current revision (run `gateway store migrate`)"
    return None


def _unreachable(exc: SQLAlchemyError) -> bool:
    # A missing alembic_version table is a ProgrammingError (PostgreSQL) or an
    # OperationalError "no such table" (SQLite); a server that does not answer is an
    # OperationalError raised while connecting.
    return "no such table" not in str(exc) and exc.__class__.__name__ == "OperationalError"
