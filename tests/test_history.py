"""History: each check's recent status changes, bounded, with how long each status held."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from starlette.applications import Starlette

from healthkit import Check, Health, Status, StatusChange
from healthkit._events import Events
from healthkit._history import HISTORY_SIZE, History
from tests.conftest import request
from tests.support import Counted

START = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


class Clock:
    """Both of History's clocks, moved by hand."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.wall_offset = 0.0

    def monotonic(self) -> float:
        return self.seconds

    def wall(self) -> datetime:
        return START + timedelta(seconds=self.seconds + self.wall_offset)


def history_with(clock: Clock, size: int = HISTORY_SIZE) -> tuple[Events, History]:
    events = Events()
    return events, History(events, size=size, clock=clock.monotonic, now=clock.wall)


def test_each_change_holds_until_the_next_and_the_last_until_now() -> None:
    clock = Clock()
    events, history = history_with(clock)

    events.emit(StatusChange("db", None, Status.PASS, None))
    clock.seconds = 60
    events.emit(StatusChange("db", Status.PASS, Status.FAIL, 60, "connection refused"))
    clock.seconds = 75
    changes = history.changes("db")

    assert [(Status.FAIL, 15.0, None), (Status.PASS, 60.0, START + timedelta(seconds=60))] == [
        (change.status, history.held(change), change.until) for change in changes
    ]
    assert [None, 60.0] == [change.held for change in changes]  # the first still holds
    assert "connection refused" == changes[0].output
    assert START + timedelta(seconds=60) == changes[0].since


def test_only_the_last_changes_are_kept_per_check() -> None:
    clock = Clock()
    events, history = history_with(clock)
    statuses = [Status.PASS, Status.FAIL] * 50

    for second, status in enumerate(statuses):
        clock.seconds = second
        events.emit(StatusChange("db", None, status, None))
        events.emit(StatusChange("cache", None, status, None))

    assert HISTORY_SIZE == 20 == len(history.changes("db")) == len(history.changes("cache"))
    assert [99.0, 98.0] == [change.at for change in history.changes("db")[:2]]


def test_the_overall_status_of_health_is_kept_and_other_endpoints_are_not() -> None:
    events, history = history_with(Clock())

    events.emit(StatusChange(None, None, Status.WARN, None, "not passing: db", probe="health"))
    events.emit(StatusChange(None, None, Status.FAIL, None, probe="readyz"))

    assert [Status.WARN] == [change.status for change in history.changes(None)]
    assert [] == history.changes("db")


def test_a_wall_clock_set_back_does_not_change_how_long_a_status_held() -> None:
    clock = Clock()
    events, history = history_with(clock)
    events.emit(StatusChange("db", None, Status.PASS, None))

    clock.seconds, clock.wall_offset = 30, -3600.0  # NTP moved the wall clock back an hour
    events.emit(StatusChange("db", Status.PASS, Status.FAIL, 30))
    passed = history.changes("db")[1]

    assert 30.0 == passed.held
    assert START - timedelta(seconds=3570) == passed.until


async def test_the_whole_history_stays_bounded_however_often_checks_flap() -> None:
    flapping = [Counted(Status.PASS) for _ in range(5)]
    health = Health([Check(f"c{n}", check) for n, check in enumerate(flapping)])
    app = Starlette(routes=health.routes())

    for round_ in range(3 * HISTORY_SIZE):
        for check in flapping:
            check.outcome = Status.FAIL if round_ % 2 else Status.PASS
            check.output = "down"
        await request(app)
    body = orjson.loads((await request(app, path="/health?history")).content)

    # the conftest shows details here: this is the history itself
    assert all(HISTORY_SIZE == len(item["changes"]) for item in body["checks"].values())
    assert HISTORY_SIZE == len(body["changes"])
