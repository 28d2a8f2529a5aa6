"""docs/protocol.md is generated from the protocol schema and must not fall behind it."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT
from trialsim import docs_protocol
from trialsim.protocol import Protocol


def test_protocol_doc_is_up_to_date() -> None:
    """Regenerate with `make docs` (python -m trialsim.docs_protocol > docs/protocol.md)."""
    assert (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8") == docs_protocol.render()


def test_every_schema_field_is_listed() -> None:
    keys = {row[0] for row in docs_protocol.rows()}
    assert {f"trial.{k}" for k in Protocol.model_fields["trial"].annotation.model_fields} <= keys
    assert {"arm.regimen.induction.days", "interim.futility_z", "analysis.test"} <= keys
    text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    for key in keys:
        assert f"| `{key}` |" in text


def test_a_field_without_a_meaning_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    meanings = dict(docs_protocol.MEANINGS)
    del meanings["trial.seed"]
    monkeypatch.setattr(docs_protocol, "MEANINGS", meanings)
    with pytest.raises(KeyError, match="trial.seed"):
        docs_protocol.render()
