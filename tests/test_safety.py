"""Safe by default: redaction, exception text withheld, error ids, X-Request-ID."""

from __future__ import annotations

import logging

import pytest
from starlette.applications import Starlette

from healthkit import Check, Health, Result, Status
from tests.conftest import ERROR_ID, document, request


def app_for(health: Health) -> Starlette:
    return Starlette(routes=health.routes())


async def leaky() -> Result:
    return Result(
        Status.WARN,
        output=(
            "replica postgresql://billing:s3cr3t@db.internal/billing is slow; "
            "GET https://api.test/v1?api_key=k-123&page=2; password=hunter2; "
            "Authorization: Bearer eyJhbGci.x.y; "
            "customer token sk_live_abc123"
        ),
    )


SECRETS = ["s3cr3t", "k-123", "hunter2", "eyJhbGci", "sk_live_abc123"]


@pytest.mark.parametrize("path", ["/health", "/readyz?verbose"])
async def test_every_output_is_redacted_before_it_is_sent(path: str) -> None:
    health = Health([Check("db", leaky)], redact=[r"sk_live_\w+"])

    response = await request(app_for(health), path=path)

    assert 200 == response.status_code
    for secret in SECRETS:
        assert secret not in response.text
    assert "postgresql://billing:***@db.internal/billing" in response.text
    assert "api_key=***&page=2" in response.text


async def test_a_not_ready_reason_is_redacted_too() -> None:
    health = Health([])
    health.set_ready(False, "rotating password=hunter2")

    response = await request(app_for(health), path="/readyz")

    assert "not ready: rotating password=***" == document(response)["output"]


def test_redact_patterns_are_checked_when_the_health_is_built() -> None:
    with pytest.raises(ValueError, match="is not a valid regular expression"):
        Health([], redact=["(unclosed"])
    with pytest.raises(TypeError, match="takes a list of patterns"):
        Health([], redact=r"sk_\w+")


async def connect() -> None:
    msg = "could not connect to postgresql://billing:s3cr3t@db.internal:5432/billing"
    raise ConnectionRefusedError(msg)


async def test_exception_text_is_withheld_by_default_and_the_output_carries_an_error_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="healthkit"):
        response = await request(Health([Check("postgres", connect)]))
    output = document(response)["checks"]["postgres"][0]["output"]
    match = ERROR_ID.search(output)

    assert match is not None
    assert output.startswith("ConnectionRefusedError (error id ")
    assert "db.internal" not in response.text
    logged = [r for r in caplog.records if r.exc_info and match.group(1) in r.getMessage()]
    assert 1 == len(logged)  # the operator finds the full exception by its id
    error = logged[0].exc_info[1] if logged[0].exc_info else None
    assert "s3cr3t" in str(error)


async def test_an_operator_may_opt_in_to_exception_text_still_redacted_never_a_traceback() -> None:
    response = await request(Health([Check("postgres", connect)], expose_errors=True))
    output = document(response)["checks"]["postgres"][0]["output"]

    assert output.startswith(
        "ConnectionRefusedError: could not connect to "
        "postgresql://billing:***@db.internal:5432/billing (error id "
    )
    assert "s3cr3t" not in response.text
    assert "Traceback" not in response.text


async def test_the_same_error_keeps_its_id_and_is_logged_in_full_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    message = "down"

    async def flaky() -> None:
        raise OSError(message)

    health = Health([Check("db", flaky)])

    with caplog.at_level(logging.DEBUG, logger="healthkit"):
        ids = [
            ERROR_ID.search(document(await request(health))["checks"]["db"][0]["output"]) for _ in range(3)
        ]
        message = "disk full"
        changed = ERROR_ID.search(document(await request(health))["checks"]["db"][0]["output"])

    assert ids[0] is not None
    assert changed is not None
    assert {ids[0].group(1)} == {m.group(1) for m in ids if m is not None}
    assert changed.group(1) != ids[0].group(1)
    loud = [r for r in caplog.records if r.exc_info and r.levelno >= logging.WARNING]
    assert 2 == len(loud)  # one per distinct error
    assert changed.group(1) in loud[1].getMessage()


@pytest.mark.parametrize(
    ("sent", "echoed"),
    [
        ("7f3a9c2e-1b4d-4c6e-9a8b-0c1d2e3f4a5b", "7f3a9c2e-1b4d-4c6e-9a8b-0c1d2e3f4a5b"),
        ("req_01HZX.42", "req_01HZX.42"),
        ("has spaces in it", None),
        ("x" * 200, None),
        ("<script>", None),
    ],
)
@pytest.mark.parametrize("path", ["/readyz", "/readyz/nope", "/readyz?exclude="])
async def test_an_incoming_request_id_is_echoed_when_it_is_a_plain_token(
    sent: str, echoed: str | None, path: str
) -> None:
    health = Health([Check("db", leaky)])

    response = await request(app_for(health), path=path, headers={"x-request-id": sent})

    assert echoed == response.headers.get("x-request-id")
