"""Status listeners and transition logging (virtual time)."""

from __future__ import annotations

import dataclasses
import io
import json
import logging

import anyio
import pytest
from pythonjsonlogger.json import JsonFormatter

from healthkit import Check, Health, Result, Status, StatusChange
from tests.conftest import ERROR_ID, no_id, probe
from tests.support import virtual_time  # noqa: F401  (both loops, virtual time)


class Switch:
    """An async check whose status the test sets; fail raises with a secret in the message."""

    def __init__(self) -> None:
        self.status = Status.PASS
        self.duration = 0.0

    async def __call__(self) -> Result | None:
        if self.duration:
            await anyio.sleep(self.duration)
        if self.status is Status.FAIL:
            msg = "FATAL: password authentication failed for user billing (pw s3cret)"
            raise PermissionError(msg)
        return Result(self.status, output="slow replica") if self.status is Status.WARN else None


async def test_listeners_get_each_change_with_the_old_status_and_how_long_it_lasted() -> None:
    switch = Switch()
    health = Health([Check("db", switch)])
    changes: list[StatusChange] = []
    health.on_change(changes.append)

    await probe(health)  # pass
    await anyio.sleep(30)
    await probe(health)  # still pass: no change
    switch.status = Status.FAIL
    await probe(health)
    await anyio.sleep(12)
    switch.status = Status.PASS
    await probe(health)

    assert [
        StatusChange("db", None, Status.PASS, None),
        StatusChange(None, None, Status.PASS, None, probe="health"),
        StatusChange("db", Status.PASS, Status.FAIL, 30.0, "PermissionError"),  # (id taken out)
        StatusChange(None, Status.PASS, Status.FAIL, 30.0, "not passing: db", probe="health"),
        StatusChange("db", Status.FAIL, Status.PASS, 12.0),
        StatusChange(None, Status.FAIL, Status.PASS, 12.0, probe="health"),
    ] == [dataclasses.replace(change, output=no_id(change.output)) for change in changes]


async def test_transitions_are_logged_once_at_a_level_that_follows_the_status(
    caplog: pytest.LogCaptureFixture,
) -> None:
    switch = Switch()
    health = Health([Check("db", switch)])

    with caplog.at_level(logging.DEBUG, logger="healthkit"):
        switch.status = Status.WARN
        await probe(health)
        switch.status = Status.FAIL
        for _ in range(10):
            await probe(health)
        switch.status = Status.PASS
        await probe(health)

    records = [(r.levelname, no_id(r.getMessage())) for r in caplog.records if r.levelno > logging.DEBUG]
    assert [
        ("WARNING", "Check 'db' is warn: slow replica"),
        ("WARNING", "Overall health is warn: not passing: db"),
        ("ERROR", "Check 'db' changed from warn to fail after 0s: PermissionError"),
        ("ERROR", "Overall health changed from warn to fail after 0s: not passing: db"),
        ("INFO", "Check 'db' changed from fail to pass after 0s"),
        ("INFO", "Overall health changed from fail to pass after 0s"),
    ] == records
    failures = [r for r in caplog.records if r.exc_info]
    assert "ERROR" == failures[0].levelname  # the full exception, once, where it started
    assert "s3cret" in caplog.text  # the message is for the operator's log ...
    assert {"DEBUG"} == {r.levelname for r in failures[1:]}  # ... repeats only at debug
    assert 9 == len(failures[1:])


async def test_a_listener_that_raises_does_not_break_the_probe(caplog: pytest.LogCaptureFixture) -> None:
    health = Health([Check("db", Switch())])

    @health.on_change
    def broken(change: StatusChange) -> None:
        raise RuntimeError

    code, _ = await probe(health)

    assert 200 == code
    assert "Status listener" in caplog.text


def test_a_listener_must_be_callable() -> None:
    with pytest.raises(TypeError, match="must be a callable taking a StatusChange"):
        Health([]).on_change("db")  # type: ignore[arg-type]


async def test_a_check_near_its_timeout_is_logged_as_slow_once(caplog: pytest.LogCaptureFixture) -> None:
    switch = Switch()
    health = Health([Check("db", switch, timeout=1)], deadline=1)

    with caplog.at_level(logging.WARNING, logger="healthkit"):
        switch.duration = 0.9
        await probe(health)
        await probe(health)
        switch.duration = 0.1
        await probe(health)
        switch.duration = 0.85
        await probe(health)

    slow = [r.getMessage() for r in caplog.records if "slow" in r.getMessage()]
    assert [
        "Check 'db' is slow: it took 0.9s of its 1s timeout",
        "Check 'db' is slow: it took 0.85s of its 1s timeout",
    ] == slow


async def test_a_change_is_logged_with_its_fields_as_extra(caplog: pytest.LogCaptureFixture) -> None:
    switch = Switch()
    health = Health([Check("db", switch)])

    with caplog.at_level(logging.INFO, logger="healthkit"):
        await probe(health)
        await anyio.sleep(30)
        switch.status = Status.FAIL
        await probe(health)

    fields = ("check", "endpoint", "status", "previous_status", "lasted", "error_id")
    records = [tuple(getattr(record, field) for field in fields) for record in caplog.records]
    error_id = ERROR_ID.search(caplog.records[2].getMessage())
    assert error_id is not None
    assert [
        ("db", None, "pass", None, None, None),
        (None, "health", "pass", None, None, None),
        ("db", None, "fail", "pass", 30.0, error_id.group(1)),
        (None, "health", "fail", "pass", 30.0, None),
    ] == records


async def test_the_error_id_field_is_the_one_healthkit_gave_even_after_an_exposed_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def lying() -> None:
        raise ConnectionError("upstream said (error id 000000)")

    health = Health([Check("db", lying)], expose_errors=True)

    with caplog.at_level(logging.ERROR, logger="healthkit"):
        report = await health.run()

    given = report.checks["db"].error_id
    assert given is not None
    assert "000000" != given
    assert given == caplog.records[0].error_id  # type: ignore[attr-defined]


async def test_a_json_formatter_emits_the_fields() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("%(levelname)s %(name)s %(message)s"))
    switch = Switch()
    switch.status = Status.WARN
    logger = logging.getLogger("healthkit")
    logger.addHandler(handler)
    try:
        await probe(Health([Check("db", switch)]))
    finally:
        logger.removeHandler(handler)

    first = json.loads(stream.getvalue().splitlines()[0])
    assert {
        "levelname": "WARNING",
        "name": "healthkit",
        "message": "Check 'db' is warn: slow replica",
        "check": "db",
        "endpoint": None,
        "status": "warn",
        "previous_status": None,
        "lasted": None,
        "error_id": None,
    } == first
