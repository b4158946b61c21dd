"""Create or upgrade the store's schema by running the Alembic migrations.

The application, the worker and the tests all build the schema this way, never with
`metadata.create_all`, so what runs in production is what the tests exercised.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from gateway.settings import PROJECT_ROOT

ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"
_LOCK_KEY = 988_911  # any fixed number, the same in every process


def alembic_config() -> Config:
    """The Alembic configuration of the repository (alembic.ini, migrations/)."""
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database behind `engine` to `revision` (default: the latest).

    Args:
        engine: the store's engine; the migrations run in one of its connections.
        revision: an Alembic revision id, or "head".
    """
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Several workers may start at once: one migrates, the others wait, then find
            # the schema current. The lock ends with the transaction.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        config.attributes["connection"] = connection
        # Leave the caller's logging alone (alembic.ini's logging is for the alembic CLI).
        config.attributes["configure_logging"] = False
        command.upgrade(config, revision)
