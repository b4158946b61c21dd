"""`gateway tables validate` prints warnings after "valid", and still exits 0."""

from __future__ import annotations

import pytest

from gateway.cli import main


def test_validate_warns_of_a_key_for_a_psap_the_tables_lack(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PSAP_API_KEYS", "wyandote-911:0123456789abcdef0123")

    code = main(["tables", "validate"])

    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert "valid" in out[0]
    assert out[1:] == [
        "warning: PSAP_API_KEYS: wyandote-911: a key is given for psap 'wyandote-911', "
        "which the tables lack"
    ]
