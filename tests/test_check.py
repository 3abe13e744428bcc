from __future__ import annotations

import functools

import pytest

from healthkit import Check, Result, Status


async def passing() -> None:
    return None


def sync_passing() -> None:
    return None


@pytest.mark.parametrize("name", ["postgres", "postgres:responseTime", "uptime", "cpu:utilization", "a b"])
def test_accepts_component_and_component_measurement_names(name: str) -> None:
    assert Check(name, passing).name == name


@pytest.mark.parametrize("name", ["", ":", "a:", ":b", "a:b:c", " db", "db ", "db\n", "db:\tx"])
def test_refuses_malformed_names_quoting_the_value(name: str) -> None:
    with pytest.raises(ValueError, match="'component' or 'component:measurement'") as info:
        Check(name, passing)

    assert repr(name) in str(info.value)


def test_refuses_a_name_that_is_not_a_string() -> None:
    with pytest.raises(TypeError, match="must be a string"):
        Check(42, passing)  # type: ignore[arg-type]


@pytest.mark.parametrize("timeout", [0, -0.5, float("inf"), float("nan")])
def test_refuses_non_positive_or_infinite_timeouts(timeout: float) -> None:
    with pytest.raises(ValueError, match="positive, finite number of seconds") as info:
        Check("db", passing, timeout=timeout)

    assert repr(timeout) in str(info.value)


@pytest.mark.parametrize("timeout", [True, "1", None])
def test_refuses_timeouts_that_are_not_numbers(timeout: object) -> None:
    with pytest.raises(TypeError, match="timeout must be a number"):
        Check("db", passing, timeout=timeout)  # type: ignore[arg-type]


def test_refuses_a_non_callable() -> None:
    with pytest.raises(TypeError, match="fn must be a callable") as info:
        Check("db", "SELECT 1")  # type: ignore[arg-type]

    assert "'SELECT 1'" in str(info.value)


def test_refuses_links_that_are_not_strings() -> None:
    with pytest.raises(TypeError, match="must map link relations to URIs"):
        Check("db", passing, links={"runbook": 3})  # type: ignore[dict-item]


class AsyncCallable:
    async def __call__(self) -> None:
        return None


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (passing, True),
        (functools.partial(passing), True),
        (AsyncCallable(), True),
        (sync_passing, False),
        (lambda: None, False),
    ],
)
def test_tells_async_checks_from_plain_functions(fn: object, expected: bool) -> None:
    assert Check("db", fn).is_async is expected  # type: ignore[arg-type]


def test_result_parses_status_aliases() -> None:
    assert Result("UP").status is Status.PASS


def test_result_refuses_a_bare_string_as_affected_endpoints() -> None:
    with pytest.raises(TypeError, match="sequence of URI template strings"):
        Result(Status.FAIL, affected_endpoints="/orders")


def test_result_takes_affected_endpoints_from_any_iterable() -> None:
    endpoints = (f"/orders/{n}" for n in range(2))
    result = Result(Status.FAIL, affected_endpoints=endpoints)  # type: ignore[arg-type]

    assert ("/orders/0", "/orders/1") == result.affected_endpoints


def test_result_refuses_output_that_is_not_text() -> None:
    with pytest.raises(TypeError, match="output must be a string"):
        Result(Status.FAIL, output=503)  # type: ignore[arg-type]


def test_options_after_name_and_fn_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        Check("db", passing, "datastore")  # type: ignore[call-arg]


def test_refuses_a_callable_that_needs_arguments() -> None:
    def ping(pool: object, timeout: float = 1.0) -> None:
        return None

    with pytest.raises(
        TypeError, match=r"Check 'db': fn must be callable with no arguments, .* requires 'pool'"
    ):
        Check("db", ping)  # type: ignore[arg-type]


def test_accepts_callables_whose_arguments_all_have_defaults() -> None:
    def ping(timeout: float = 1.0, *extra: object, **options: object) -> None:
        return None

    assert not Check("db", ping).is_async
