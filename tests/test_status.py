from __future__ import annotations

import pytest

from healthkit import Status
from healthkit._status import worst


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pass", Status.PASS),
        ("PASS", Status.PASS),
        ("ok", Status.PASS),
        ("Up", Status.PASS),
        ("warn", Status.WARN),
        ("WARN", Status.WARN),
        ("fail", Status.FAIL),
        ("error", Status.FAIL),
        ("DOWN", Status.FAIL),
        (" down ", Status.FAIL),
    ],
)
def test_parses_the_drafts_values_and_aliases_case_insensitively(text: str, expected: Status) -> None:
    assert Status(text) is expected


@pytest.mark.parametrize("value", ["degraded", "", "passed", 1, None])
def test_refuses_other_values_and_says_what_is_allowed(value: object) -> None:
    with pytest.raises(ValueError, match="use pass, warn or fail") as info:
        Status(value)  # type: ignore[arg-type]

    assert repr(value) in str(info.value)


def test_statuses_order_by_severity() -> None:
    assert sorted([Status.FAIL, Status.PASS, Status.WARN]) == [Status.PASS, Status.WARN, Status.FAIL]
    assert Status.WARN > Status.PASS
    assert Status.FAIL >= Status.WARN
    assert Status.PASS <= Status.PASS


def test_serializes_as_the_lowercase_draft_value() -> None:
    assert [str(s) for s in Status] == ["pass", "warn", "fail"]


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], Status.PASS),
        ([Status.PASS, Status.PASS], Status.PASS),
        ([Status.PASS, Status.WARN], Status.WARN),
        ([Status.WARN, Status.FAIL, Status.PASS], Status.FAIL),
        ([Status.FAIL, Status.WARN], Status.FAIL),
    ],
)
def test_worst_of_is_the_most_severe(statuses: list[Status], expected: Status) -> None:
    assert worst(statuses) is expected
