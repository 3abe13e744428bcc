"""Flap damping: thresholds count calls in a row, not probes (virtual time)."""

from __future__ import annotations

import anyio

from healthkit import Check, Health
from tests.conftest import no_id, probe
from tests.support import virtual_time  # noqa: F401  (both loops, virtual time)


class Scripted:
    """An async check that passes or raises as its script says, one entry per call."""

    def __init__(self, script: str) -> None:
        self.script = list(script)  # "p": pass, "f": fail
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.script.pop(0) == "f":
            raise ConnectionError


async def outcomes(health: Health, probes: int, every: float = 1.0) -> list[tuple[int, str, str | None]]:
    seen = []
    for _ in range(probes):
        code, body = await probe(health)
        item = body["checks"]["db"][0]
        seen.append((code, item["status"], no_id(item.get("output"))))
        await anyio.sleep(every)
    return seen


async def test_fail_is_reported_only_after_failure_threshold_failures_in_a_row() -> None:
    health = Health([Check("db", Scripted("ffff"), failure_threshold=3)])

    seen = await outcomes(health, 4)

    assert [
        (200, "warn", "ConnectionError; failed 1 in a row (fail after 3 in a row)"),
        (200, "warn", "ConnectionError; failed 2 in a row (fail after 3 in a row)"),
        (503, "fail", "ConnectionError"),
        (503, "fail", "ConnectionError"),
    ] == seen


async def test_a_flapping_check_never_reaches_fail() -> None:
    health = Health([Check("db", Scripted("fpfpfpfp"), failure_threshold=2)])

    seen = await outcomes(health, 8)

    assert {200} == {code for code, _, _ in seen}


async def test_pass_is_reported_again_only_after_success_threshold_successes() -> None:
    health = Health([Check("db", Scripted("fppfppp"), success_threshold=3)])

    seen = await outcomes(health, 7)

    assert [
        (503, "fail", "ConnectionError"),
        (503, "fail", "recovering: pass 1 in a row (pass after 3)"),
        (503, "fail", "recovering: pass 2 in a row (pass after 3)"),
        (503, "fail", "ConnectionError"),
        (503, "fail", "recovering: pass 1 in a row (pass after 3)"),
        (503, "fail", "recovering: pass 2 in a row (pass after 3)"),
        (200, "pass", None),
    ] == seen


async def test_max_time_in_error_holds_fail_back_until_the_failure_lasts() -> None:
    health = Health([Check("db", Scripted("ffff"), max_time_in_error=10)])

    seen = await outcomes(health, 4, every=5)  # calls at 0, 5, 10, 15 s

    assert [code for code, _, _ in seen] == [200, 200, 503, 503]
    assert "ConnectionError; failed 2 in a row (fail after 10s in error)" == seen[1][2]


async def test_thresholds_count_calls_not_probes_served_from_cache() -> None:
    script = Scripted("ff")
    health = Health([Check("db", script, failure_threshold=2, cache_ttl=10)])

    seen = await outcomes(health, 10)  # ten probes in ten seconds: one call

    assert 1 == script.calls
    assert {(200, "warn")} == {(code, status) for code, status, _ in seen}
