"""Settings refuse bad values at start-up and keep secrets out of their repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import DEFAULT_TABLES_DIR, Settings, SettingsError


def test_defaults_need_no_environment() -> None:
    settings = Settings.from_env({})
    assert settings.tables_dir == DEFAULT_TABLES_DIR
    assert settings.database_url.startswith("sqlite:///")
    assert settings.transfer_deadline_s == 90
    assert settings.after_response_threads == 4
    assert Settings.from_env({"AFTER_RESPONSE_THREADS": "0"}).after_response_threads == 0


def test_a_secret_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cret-token\n")
    settings = Settings.from_env({"TWILIO_AUTH_TOKEN_FILE": str(secret)})
    assert settings.twilio_auth_token == "s3cret-token"


def test_secrets_never_appear_in_the_repr() -> None:
    settings = Settings.from_env(
        {"TWILIO_AUTH_TOKEN": "tok-123", "CALLER_HASH_KEY": "hash-456", "ENCRYPTION_KEY": "k-789"}
    )
    text = repr(settings)
    assert "tok-123" not in text and "hash-456" not in text and "k-789" not in text


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RETENTION_DAYS": "soon"}, "RETENTION_DAYS='soon': not a whole number"),
        ({"RETENTION_DAYS": "0"}, "RETENTION_DAYS=0: must be between 1 and 3650"),
        ({"AFTER_RESPONSE_THREADS": "-1"}, "AFTER_RESPONSE_THREADS=-1: must be between 0 and 64"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL='localhost:6379': must start with"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL='mysql://x': must start with"),
        ({"ROUTING_TABLES": "/no/such/dir"}, "ROUTING_TABLES=/no/such/dir: no such file"),
        ({"TWILIO_AUTH_TOKEN_FILE": "/no/such/file"}, "cannot read it"),
    ],
)
def test_bad_values_stop_the_gateway_with_the_variable_named(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace("?", r"\?")):
        Settings.from_env(env)
