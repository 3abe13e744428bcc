"""The JSON Schema shipped in the package: valid itself, and strict where the draft is."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from tests.conftest import SCHEMA, VALIDATOR


def test_the_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


CHECK = {"status": "pass", "time": "2026-11-22T03:58:59.799195Z", "durationMs": 1.5}


@pytest.mark.parametrize(
    "body",
    [
        {"status": "pass"},
        {"status": "warn", "output": "slow", "checks": {"db:responseTime": [CHECK]}},
        {"status": "fail", "checks": {"db": [{**CHECK, "status": "fail", "output": "OSError"}]}},
        {"status": "pass", "checks": {"db": [{"status": "pass"}]}},  # details withheld
    ],
)
def test_accepts_documents_healthkit_emits(body: dict[str, Any]) -> None:
    VALIDATOR.validate(body)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"status": "ok"},  # aliases are for parsing; healthkit emits pass/warn/fail
        {"status": "pass", "output": "all good"},
        {"status": "pass", "checks": {"db": [{**CHECK, "output": "fine"}]}},
        {"status": "pass", "checks": {"db": [{**CHECK, "affectedEndpoints": ["/x"]}]}},
        {"status": "pass", "checks": {"db": [CHECK, CHECK]}},
        {"status": "pass", "checks": {"a:b:c": [CHECK]}},
        {"status": "pass", "checks": {"db": [{**CHECK, "observedUnit": "ms"}]}},
        {"status": "pass", "checks": {"db": [{**CHECK, "time": "2026-11-22 03:58:59"}]}},
        {"status": "pass", "extra": 1},
    ],
)
def test_rejects_what_the_draft_or_healthkit_rules_out(body: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(body)
