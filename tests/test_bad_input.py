"""Bad requests get a 4xx that says what to fix and run no check; odd results still make a document."""

from __future__ import annotations

import math

import pytest
from starlette.applications import Starlette

from healthkit import Check, Health, Result, Status
from tests.conftest import document, request
from tests.support import Counted


def app_for(*checks: Check) -> Starlette:
    return Starlette(routes=Health(list(checks)).routes())


@pytest.mark.parametrize(
    ("path", "code", "says"),
    [
        ("/readyz?verbose=maybe", 400, "verbose takes no value, or one of 1, true, 0, false; got 'maybe'"),
        ("/readyz?exclude=", 400, "exclude needs a check name"),
        ("/readyz?exclude=" + "x" * 2000, 414, "a probe takes at most 1024"),
        ("/readyz?" + "&".join(f"p{n}=v" for n in range(400)), 414, "a probe takes at most 1024"),
        ("/readyz/" + "n" * 500, 404, "readyz has no check named 'nnnn"),
    ],
)
async def test_bad_requests_get_a_4xx_that_says_what_to_fix_and_run_nothing(
    path: str, code: int, says: str
) -> None:
    db = Counted()
    response = await request(app_for(Check("db", db)), path=path)

    assert code == response.status_code
    assert says in response.text
    assert len(response.text) < 400  # an echoed name is cut short
    assert 0 == db.calls


@pytest.mark.parametrize(
    ("value", "verbose"), [("", True), ("1", True), ("TRUE", True), ("0", False), ("false", False)]
)
async def test_verbose_takes_the_usual_flag_values(value: str, verbose: bool) -> None:
    response = await request(app_for(Check("db", Counted())), path=f"/readyz?verbose={value}")

    assert 200 == response.status_code
    assert verbose == response.headers["content-type"].startswith("text/plain")


async def test_unknown_query_parameters_are_ignored() -> None:
    response = await request(app_for(Check("db", Counted())), path="/readyz?format=xml&utm_source=lb")

    assert 200 == response.status_code


@pytest.mark.parametrize(
    ("value", "sent"), [(math.nan, None), (math.inf, None), (-math.inf, None), ([1.0, math.nan], [1.0, None])]
)
async def test_non_finite_observed_values_are_left_out_or_become_null_inside(
    value: object, sent: object
) -> None:
    response = await request(
        app_for(Check("db", Counted(Result(Status.PASS, observed_value=value)))), path="/health"
    )
    item = document(response)["checks"]["db"][0]

    assert 200 == response.status_code
    assert sent == item.get("observedValue")


async def test_a_huge_output_is_cut_and_says_so() -> None:
    check = Counted(Result(Status.WARN, output="x" * 100_000))

    response = await request(app_for(Check("db", check)), path="/health")
    output = document(response)["checks"]["db"][0]["output"]

    assert 200 == response.status_code
    assert output.endswith("... (cut, 100000 characters in all)")
    assert len(output) < 1100


async def test_a_huge_observed_value_is_a_fail_that_says_why() -> None:
    check = Counted(Result(Status.PASS, observed_value=list(range(10_000))))

    response = await request(app_for(Check("db", check)), path="/health")

    assert 503 == response.status_code
    assert document(response)["checks"]["db"][0]["output"].startswith(
        "the result is too large for a health document: "
    )


async def test_a_long_not_ready_reason_is_cut() -> None:
    health = Health([])
    health.set_ready(False, "r" * 5000)

    response = await request(Starlette(routes=health.routes()), path="/readyz")

    assert 503 == response.status_code
    assert len(document(response)["output"]) < 320
