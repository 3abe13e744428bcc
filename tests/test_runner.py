"""Running checks: concurrency, deadlines, worker threads, exceptions, cancellation."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import anyio
import pytest

from healthkit import Check, Health, Report, Result, Status, StatusChange
from tests.conftest import document, lifespan, no_id, request


def check_item(body: dict[str, Any], name: str) -> dict[str, Any]:
    item: dict[str, Any] = body["checks"][name][0]
    return item


async def test_checks_run_concurrently() -> None:
    # Each check waits until all ten have started: only concurrent execution can finish.
    started = 0
    all_started = anyio.Event()

    async def meet() -> None:
        nonlocal started
        started += 1
        if started == 10:
            all_started.set()
        await all_started.wait()

    health = Health([Check(f"c{i}", meet) for i in range(10)], deadline=5)

    with anyio.fail_after(4):
        response = await request(health)

    assert 200 == response.status_code
    assert {"pass"} == {item[0]["status"] for item in document(response)["checks"].values()}


async def test_ten_checks_of_100ms_answer_in_about_100ms() -> None:
    async def wait_100ms() -> None:
        await anyio.sleep(0.1)

    health = Health([Check(f"c{i}", wait_100ms) for i in range(10)])

    started = time.perf_counter()
    response = await request(health)
    elapsed = time.perf_counter() - started

    assert 200 == response.status_code
    assert 0.1 <= elapsed < 0.5, f"sequential would take 1s; took {elapsed:.3f}s"


async def test_hung_check_fails_at_its_timeout_without_delaying_the_answer() -> None:
    async def hangs() -> None:
        await anyio.sleep_forever()

    async def quick() -> None:
        return None

    health = Health([Check("hung", hangs, timeout=0.2), Check("quick", quick)], deadline=0.8)

    started = time.perf_counter()
    response = await request(health)
    elapsed = time.perf_counter() - started

    body = document(response)
    assert 503 == response.status_code
    assert "fail" == check_item(body, "hung")["status"]
    assert "timed out after 0.2s" == check_item(body, "hung")["output"]
    assert 200.0 == check_item(body, "hung")["durationMs"]
    assert "pass" == check_item(body, "quick")["status"]
    assert 0.2 <= elapsed < 0.6


async def test_the_deadline_cuts_checks_with_longer_timeouts(caplog: pytest.LogCaptureFixture) -> None:
    async def hangs() -> None:
        await anyio.sleep_forever()

    with caplog.at_level(logging.WARNING, logger="healthkit"):
        health = Health([Check("slow", hangs, timeout=5)], deadline=0.3)

    started = time.perf_counter()
    response = await request(health)
    elapsed = time.perf_counter() - started

    assert "timed out after 0.3s (the probe's deadline)" == check_item(document(response), "slow")["output"]
    assert 0.3 <= elapsed < 0.7
    assert "longer than the deadline" in caplog.text
    assert "'slow'" in caplog.text


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_check_that_swallows_cancellation_cannot_hold_the_answer_on_asyncio() -> None:
    import asyncio

    release = anyio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                continue  # a broken check: ignores its cancellation

    health = Health([Check("stubborn", stubborn)], deadline=0.3)

    started = time.perf_counter()
    response = await request(health)
    elapsed = time.perf_counter() - started
    release.set()

    assert 503 == response.status_code
    assert (
        "timed out after 0.3s (the probe's deadline)" == check_item(document(response), "stubborn")["output"]
    )
    assert elapsed < 0.7


async def test_each_check_has_its_own_timeout() -> None:
    async def wait(seconds: float) -> None:
        await anyio.sleep(seconds)

    async def short() -> None:
        await wait(10)

    async def long() -> None:
        await wait(0.3)

    health = Health([Check("short", short, timeout=0.1), Check("long", long, timeout=0.6)])

    body = document(await request(health))

    assert "timed out after 0.1s" == check_item(body, "short")["output"]
    assert "pass" == check_item(body, "long")["status"]


async def test_an_exception_is_a_fail_naming_only_its_type(caplog: pytest.LogCaptureFixture) -> None:
    async def connect() -> None:
        msg = "could not connect to postgresql://billing:s3cr3t-pw@db.internal:5432/billing"
        raise ConnectionRefusedError(msg)

    health = Health([Check("postgres", connect)])

    with caplog.at_level(logging.ERROR, logger="healthkit"):
        response = await request(health)

    assert 503 == response.status_code
    assert "ConnectionRefusedError" == no_id(check_item(document(response), "postgres")["output"])
    assert b"s3cr3t-pw" not in response.content
    assert b"db.internal" not in response.content
    assert b"Traceback" not in response.content
    # The whole exception goes to the server's log for the operator.
    assert "s3cr3t-pw" in caplog.text
    assert "Traceback" in caplog.text


async def test_a_sync_check_exception_is_a_fail_too() -> None:
    def broken() -> None:
        raise KeyError("password=hunter2")

    response = await request(Health([Check("cache", broken)]))

    assert "KeyError" == no_id(check_item(document(response), "cache")["output"])
    assert b"hunter2" not in response.content


@pytest.mark.parametrize(
    ("value", "output"),
    [
        (True, "returned bool, expected a Result or None"),
        ("ok", "returned str, expected a Result or None"),
        (Status.PASS, "returned Status, expected a Result or None"),
        ({"status": "pass"}, "returned dict, expected a Result or None"),
    ],
)
async def test_a_check_returning_something_else_fails_saying_what_it_returned(
    value: object, output: str
) -> None:
    async def odd() -> object:
        return value

    response = await request(Health([Check("odd", odd)]))  # type: ignore[arg-type]

    assert 503 == response.status_code
    assert output == check_item(document(response), "odd")["output"]


async def test_a_plain_function_returning_a_coroutine_fails_with_advice() -> None:
    async def ping() -> None:
        return None

    response = await request(Health([Check("ping", lambda: ping())]))

    assert (
        "returned coroutine from a plain function; declare the check with 'async def'"
        == check_item(document(response), "ping")["output"]
    )


async def test_an_observed_value_that_is_not_json_fails_instead_of_breaking_the_response() -> None:
    async def odd() -> Result:
        return Result(Status.PASS, observed_value=object())

    response = await request(Health([Check("odd", odd)]))

    assert 503 == response.status_code
    assert (
        "observed_value of type object is not JSON-serializable"
        == check_item(document(response), "odd")["output"]
    )


async def test_a_sync_check_runs_in_a_thread_and_does_not_stall_other_requests() -> None:
    gate = threading.Event()
    loop_thread = threading.get_ident()
    ran_in: list[int] = []

    def blocking() -> None:
        ran_in.append(threading.get_ident())
        gate.wait(5)

    async def quick() -> None:
        return None

    slow_health = Health([Check("blocking", blocking, timeout=5)], deadline=5)
    quick_health = Health([Check("quick", quick)])
    responses: dict[str, int] = {}

    async def call(name: str, health: Health) -> None:
        responses[name] = (await request(health)).status_code

    with anyio.fail_after(4):
        async with anyio.create_task_group() as group:
            group.start_soon(call, "slow", slow_health)
            while not ran_in:  # the sync check is now blocked in its thread
                await anyio.sleep(0.005)
            await call("quick", quick_health)  # answered while the sync check still blocks
            assert "slow" not in responses
            gate.set()

    assert {"slow": 200, "quick": 200} == responses
    assert [loop_thread] != ran_in


async def test_a_hung_sync_check_is_not_started_again_while_its_thread_runs() -> None:
    gate = threading.Event()
    calls = 0

    def hangs() -> None:
        nonlocal calls
        calls += 1
        gate.wait(10)

    health = Health([Check("legacy", hangs, timeout=0.1)])

    first = check_item(document(await request(health)), "legacy")
    second = check_item(document(await request(health)), "legacy")

    assert "timed out after 0.1s" == first["output"]
    assert second["output"].startswith("timed out after 0.1s; still running from an earlier call started ")
    assert 1 == calls

    gate.set()  # the thread ends: a probe then passes, joining it or calling afresh ...
    with anyio.fail_after(4):
        while (await request(health)).status_code != 200:
            await anyio.sleep(0.01)
    before = calls
    third = await request(health)  # ... and with no thread left, the next probe calls afresh

    assert 200 == third.status_code
    assert before + 1 == calls


async def test_concurrent_probes_share_one_call_of_a_running_sync_check() -> None:
    gate = threading.Event()
    calls = 0

    def slow() -> None:
        nonlocal calls
        calls += 1
        gate.wait(5)

    health = Health([Check("slow", slow, timeout=4)], deadline=4)
    codes: list[int] = []

    async def probe() -> None:
        codes.append((await request(health)).status_code)

    with anyio.fail_after(4):
        async with anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(probe)
            while calls == 0:
                await anyio.sleep(0.005)
            await anyio.wait_all_tasks_blocked()  # every probe waits on the call in flight
            gate.set()

    assert [200, 200, 200] == codes
    assert 1 == calls


async def test_worker_threads_are_bounded_by_max_threads() -> None:
    gate = threading.Event()
    third = threading.Event()
    lock = threading.Lock()
    running = 0
    most = 0

    def blocking() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            if running > 2:
                third.set()
        gate.wait(5)
        with lock:
            running -= 1

    health = Health([Check(f"t{i}", blocking, timeout=4) for i in range(5)], deadline=4, max_threads=2)
    codes: list[int] = []

    async def probe() -> None:
        codes.append((await request(health)).status_code)

    with anyio.fail_after(4):
        async with anyio.create_task_group() as group:
            group.start_soon(probe)
            while running < 2:
                await anyio.sleep(0.005)
            await anyio.wait_all_tasks_blocked()  # the probe waits for a free thread
            assert not third.wait(0.2)  # a third thread, had one started, would be inside by now
            assert 2 == most
            gate.set()

    assert [200] == codes


async def test_cancelling_the_request_cancels_its_checks() -> None:
    cancelled = anyio.Event()
    entered = anyio.Event()

    async def waits() -> None:
        entered.set()
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()

    # Timeouts far beyond the bound below: only the cancellation can end the calls in time.
    health = Health([Check("a", waits, timeout=30), Check("b", waits, timeout=30)], deadline=20)

    with anyio.move_on_after(0.1) as scope:
        await request(health)

    assert scope.cancelled_caught
    with anyio.fail_after(2):
        await cancelled.wait()
    assert entered.is_set()


async def test_a_call_goes_on_for_the_probes_still_waiting_when_one_is_cancelled() -> None:
    entered = anyio.Event()
    release = anyio.Event()
    calls = 0

    async def slow() -> None:
        nonlocal calls
        calls += 1
        entered.set()
        await release.wait()

    health = Health([Check("db", slow, timeout=30)], deadline=20)
    reports: list[Report] = []

    async def patient() -> None:
        reports.append(await health.run())

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(patient)
            await entered.wait()
            with anyio.move_on_after(0.05):
                await health.run()  # joins the call, then its client goes away
            release.set()

    assert 1 == calls
    assert Status.PASS == reports[0].status


def test_a_call_cancelled_by_the_event_loop_shutting_down_is_not_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def hangs() -> None:
        await anyio.sleep_forever()

    health = Health([Check("db", hangs, timeout=30)], deadline=0.05)
    changes: list[StatusChange] = []
    health.on_change(changes.append)

    async def main() -> None:
        await health.run()  # times out at the deadline; the call goes on (asyncio)

    with caplog.at_level(logging.DEBUG, logger="healthkit"):
        asyncio.run(main())  # cancels the call as the loop closes

    assert "CancelledError" not in caplog.text
    assert [Status.FAIL] == [change.new for change in changes if change.check == "db"]  # the deadline only


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_thread_held_on_a_loop_that_is_gone_frees_its_place_for_the_next_loop(backend: str) -> None:
    gate = threading.Event()

    def hangs() -> None:
        gate.wait(10)

    def quick() -> None:
        return None

    health = Health([Check("hung", hangs, timeout=0.1), Check("quick", quick)], max_threads=1, deadline=0.5)

    async def first() -> Status:
        return (await health.run(check="hung")).status

    async def second() -> Status:
        return (await health.run(check="quick")).status

    assert Status.FAIL == anyio.run(first, backend=backend)  # its thread hangs on, past the loop
    gate.set()  # the thread ends after its loop is gone, and gives its place back
    assert Status.PASS == anyio.run(second, backend=backend)


@pytest.mark.parametrize(
    ("value", "output"),
    [
        (2**64, "observed_value of type int is not JSON-serializable"),
        (-(2**63) - 1, "observed_value of type int is not JSON-serializable"),
        ({1: "non-string key"}, "observed_value of type dict is not JSON-serializable"),
    ],
)
async def test_an_observed_value_json_cannot_carry_is_a_fail_not_a_500(value: object, output: str) -> None:
    async def odd() -> Result:
        return Result(Status.PASS, observed_value=value)

    response = await request(Health([Check("odd", odd)]))

    assert 503 == response.status_code
    assert output == check_item(document(response), "odd")["output"]


async def test_output_with_a_lone_surrogate_is_a_fail_not_a_500() -> None:
    async def odd() -> Result:
        return Result(Status.WARN, output="bad byte \udcff")

    response = await request(Health([Check("odd", odd)]))

    assert 503 == response.status_code
    assert "output of type str is not JSON-serializable" == check_item(document(response), "odd")["output"]


async def test_an_async_check_returning_an_unawaited_coroutine_is_told_to_await_it() -> None:
    async def inner() -> None:
        return None

    async def forgetful() -> object:
        return inner()

    response = await request(Health([Check("db", forgetful)]))  # type: ignore[arg-type]

    assert (
        "returned an un-awaited coroutine; await it inside the check"
        == check_item(document(response), "db")["output"]
    )


class Fatal(BaseException):
    pass


async def test_sys_exit_in_a_sync_check_is_its_failure_not_the_servers() -> None:
    import sys

    def legacy() -> None:
        sys.exit(2)

    async def odd() -> None:
        raise Fatal

    health = Health([Check("legacy", legacy), Check("odd", odd)])

    first = await request(health)
    second = await request(health)  # the event loop, and the app, are still there

    assert 503 == first.status_code
    assert "SystemExit" == no_id(check_item(document(first), "legacy")["output"])
    assert "Fatal" == no_id(check_item(document(first), "odd")["output"])
    assert 503 == second.status_code


async def test_a_check_that_catches_its_cancellation_and_returns_is_still_timed_out() -> None:
    async def sneaky() -> None:
        try:
            await anyio.sleep(10)
        except anyio.get_cancelled_exc_class():
            return  # a broken check: claims success after being cut off

    response = await request(Health([Check("sneaky", sneaky, timeout=0.1)]))

    assert 503 == response.status_code
    assert "timed out after 0.1s" == check_item(document(response), "sneaky")["output"]


async def test_a_sync_check_cancelled_while_waiting_for_a_thread_is_not_stuck() -> None:
    gate = threading.Event()

    def blocked() -> None:
        gate.wait(10)

    # One worker thread for two checks: one of them is cut off before its thread ever starts.
    health = Health([Check("a", blocked, timeout=0.2), Check("b", blocked, timeout=0.2)], max_threads=1)

    first = document(await request(health))
    gate.set()

    assert {"fail"} == {first["checks"][name][0]["status"] for name in ("a", "b")}
    with anyio.fail_after(4):
        while (await request(health)).status_code != 200:
            await anyio.sleep(0.01)


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_with_the_lifespan_a_trio_check_ignoring_cancellation_cannot_hold_the_answer() -> None:
    release = anyio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await anyio.sleep(10)
            except anyio.get_cancelled_exc_class():
                continue  # a broken check: ignores its cancellation

    health = Health([Check("stubborn", stubborn)], deadline=0.3)

    async with lifespan(health):
        started = time.perf_counter()
        response = await request(health)
        elapsed = time.perf_counter() - started
        release.set()

    assert 503 == response.status_code
    assert elapsed < 0.7


async def test_a_probe_never_calls_again_a_check_the_lifespan_stopped() -> None:
    started = 0
    entered = anyio.Event()

    async def slow() -> None:
        nonlocal started
        started += 1
        entered.set()
        await anyio.sleep(2)

    health = Health([Check("db", slow, timeout=3)], deadline=2.5)
    reports: list[Report] = []

    async def probe() -> None:
        reports.append(await health.run())

    async with anyio.create_task_group() as group:
        async with lifespan(health):
            group.start_soon(probe)
            await entered.wait()  # the probe waits on the call the lifespan's end cancels
        after_lifespan = started

    assert 1 == after_lifespan == started  # no call of the check after the lifespan ended
    assert "interrupted: the call was cancelled before it ended" == reports[0].checks["db"].output


async def test_a_cancellation_a_driver_turns_into_its_own_error_is_still_not_a_failure() -> None:
    class ConnectionLost(Exception):
        pass

    entered = anyio.Event()

    async def query() -> None:
        entered.set()
        try:
            await anyio.sleep(5)
        except anyio.get_cancelled_exc_class():
            raise ConnectionLost("connection closed during the query") from None

    health = Health([Check("db", query, timeout=10)], deadline=3)
    changes: list[StatusChange] = []
    health.on_change(changes.append)

    async with anyio.create_task_group() as group, lifespan(health):
        group.start_soon(health.run)
        await entered.wait()

    assert "ConnectionLost" not in " ".join(str(change.output) for change in changes)


async def test_a_check_cut_at_its_timeout_while_its_driver_converts_the_cancellation_times_out() -> None:
    async def query() -> None:
        try:
            await anyio.sleep(5)
        except anyio.get_cancelled_exc_class():
            raise OSError("connection closed during the query") from None

    report = await Health([Check("db", query, timeout=0.1)]).run()

    assert "timed out after 0.1s" == report.checks["db"].output


async def test_probes_that_give_up_on_a_hung_thread_leave_no_wake_up_behind() -> None:
    gate = threading.Event()

    def hangs() -> None:
        gate.wait(10)

    health = Health([Check("a", hangs, timeout=0.02), Check("b", hangs, timeout=0.02)], max_threads=1)
    try:
        for _ in range(20):
            await health.run()
        states = health._refresher._states
        jobs = [state._job for state in states if state._job is not None]  # the one holding the thread
        assert 1 == len(jobs)
        # Nothing grows while the thread hangs: no wake-up left for a free thread or for the job.
        assert ([], []) == (states[0]._workers._waiters, jobs[0]._waiters)
    finally:
        gate.set()


async def test_a_thread_that_cannot_start_gives_its_place_back(monkeypatch: pytest.MonkeyPatch) -> None:
    from healthkit import _threads

    real = _threads._Worker
    failures = [RuntimeError("can't start new thread")]

    def flaky(pool: Any) -> Any:
        if failures:
            raise failures.pop()
        return real(pool)

    monkeypatch.setattr(_threads, "_Worker", flaky)
    health = Health([Check("db", lambda: None)], max_threads=1)

    first = await health.run()
    second = await health.run()

    assert Status.FAIL == first.status
    assert Status.PASS == second.status  # the failed start did not keep the only place


async def test_readiness_answers_within_its_deadline_even_while_it_runs_the_startup_checks() -> None:
    async def slow() -> None:
        await anyio.sleep(0.6)

    health = Health(
        [Check("warm", slow, tags={"startup"}, timeout=0.9), Check("db", slow, timeout=0.9)], deadline=1.0
    )

    with anyio.fail_after(1.3):  # startup then readiness would take 1.2 s: one deadline covers both
        report = await health.run("readyz")

    assert "timed out after" in (report.checks["db"].output or "")
