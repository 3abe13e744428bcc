"""Building a Health: every setting is checked up front, with a message that says what is allowed."""

from __future__ import annotations

from typing import Any

import pytest

from healthkit import Check, Health, Probe


async def passing() -> None:
    return None


def test_refuses_duplicate_check_names() -> None:
    with pytest.raises(ValueError, match="'db' is registered twice"):
        Health([Check("db", passing), Check("db", passing)])


def test_refuses_things_that_are_not_checks() -> None:
    with pytest.raises(TypeError, match=r"wrap a function as Check\('name', fn\)"):
        Health([passing])  # type: ignore[list-item]


def test_refuses_a_single_check_not_in_a_list() -> None:
    with pytest.raises(TypeError, match="takes an iterable of Check"):
        Health(Check("db", passing))  # type: ignore[arg-type]


@pytest.mark.parametrize("deadline", [0, -1, float("inf")])
def test_refuses_a_non_positive_deadline(deadline: float) -> None:
    with pytest.raises(ValueError, match="deadline must be a positive, finite number of seconds"):
        Health([], deadline=deadline)


@pytest.mark.parametrize("max_threads", [0, -2, 1.5, True])
def test_refuses_a_bad_thread_limit(max_threads: object) -> None:
    with pytest.raises(ValueError, match="max_threads must be a whole number of at least 1"):
        Health([], max_threads=max_threads)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["max-âge=1", "no-store\r\nSet-Cookie: a=b", "no-store\n"])
def test_refuses_a_cache_control_that_is_not_a_printable_ascii_header(value: str) -> None:
    with pytest.raises(ValueError, match="cache_control must be a printable ASCII header value"):
        Health([], cache_control=value)


@pytest.mark.parametrize("setting", ["deadline", "cache_ttl"])
def test_refuses_numbers_too_large_for_seconds_with_the_usual_message(setting: str) -> None:
    with pytest.raises(ValueError, match=f"{setting} must be a .*finite number of seconds"):
        Health([], **{setting: 10**400})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"service_id": "svc-\udcff"},
        {"notes": ["\ud800"]},
        {"links": {"self": "https://x.test/\ud800"}},
    ],
)
def test_refuses_settings_that_cannot_be_sent_as_utf8(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="encodes as UTF-8"):
        Health([], **kwargs)


def test_refuses_a_component_type_that_cannot_be_sent_as_utf8() -> None:
    with pytest.raises(ValueError, match="encodes as UTF-8"):
        Check("db", passing, component_type="\ud800")


@pytest.mark.parametrize("field", ["service_id", "version", "release_id", "description"])
def test_refuses_metadata_that_is_not_text(field: str) -> None:
    with pytest.raises(TypeError, match=f"Health {field} must be a string"):
        Health([], **{field: 3})  # type: ignore[arg-type]


def test_refuses_notes_given_as_one_string() -> None:
    with pytest.raises(TypeError, match="notes must be a sequence of strings"):
        Health([], notes="maintenance")


def test_refuses_links_that_are_not_uris() -> None:
    with pytest.raises(TypeError, match="Health links must map link relations to URIs"):
        Health([], links={"self": None})  # type: ignore[dict-item]


def test_defaults_fit_a_kubernetes_probe_with_its_default_1s_timeout() -> None:
    health = Health([Check("db", passing)])

    assert 0.8 == health.deadline
    assert 0.5 == health.checks[0].timeout
    assert health.deadline < 1.0


def test_refuses_a_tag_that_no_probe_selects() -> None:
    async def ping() -> None:
        return None

    # A misspelled "ready" would silently take the database out of readiness.
    with pytest.raises(
        ValueError,
        match=r"Check 'db' has the tag 'readiness', which no probe selects; "
        r"the tags in use are: live, ready, startup",
    ):
        Health([Check("db", ping, tags={"readiness"})])


def test_a_tag_a_probe_selects_is_accepted() -> None:
    async def ping() -> None:
        return None

    health = Health([Check("db", ping, tags={"datastore"})], readiness=Probe(tags={"datastore"}))

    assert ["db"] == [check.name for check in health.checks]
