"""Safe by default: redaction, exception text withheld, error ids, X-Request-ID."""

from __future__ import annotations

import logging

import anyio
import pytest
from starlette.applications import Starlette

from healthkit import Check, Health, Result, Status, bearer_token
from tests.conftest import ERROR_ID, document, lifespan, request


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
    assert "api_key=***" in response.text


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


@pytest.mark.parametrize(
    "text",
    [
        '{"password": "leak-1"}',
        "{'password': 'leak-2'}",
        "DB_PASSWORD=leak-3 PGPASSWORD=leak-4 aws_secret_access_key=leak-5 x_api_key=leak-6",
        "billing:leak-7@db.internal:5432",
        "redis://:ab/leak-8@cache",
        "postgresql://billing:p@leak-9@db/billing",
        "https%3A%2F%2Fbilling%3Aleak-10%40db",
        "callback%3Fpassword%3Dleak-11",
        "Authorization: ApiKey leak-12",
        "Bearer ab!leak-13",
        "password=abc&leak-14",
    ],
)
def test_the_redactor_masks_the_usual_disguises(text: str) -> None:
    from healthkit._redact import Redactor

    assert "leak-" not in Redactor()(text)


async def test_outputs_are_masked_before_they_are_cut() -> None:
    dsn = "postgresql://billing:S3cretPassw0rd@db.internal/billing"

    async def long_output() -> Result:
        return Result(Status.WARN, output="x" * 1000 + dsn)

    async def long_error() -> None:
        raise ValueError("y" * 480 + dsn)

    health = Health([Check("out", long_output), Check("err", long_error, critical=False)], expose_errors=True)
    # Each cut (1024, 512 and 256 characters) lands inside the password when it is cut first.
    health.set_ready(False, "z" * 230 + dsn)
    app = app_for(health)

    bodies = [(await request(app, path=path)).text for path in ("/health", "/health?verbose", "/readyz")]

    assert all("(cut, " in body for body in bodies)
    assert not any("S3" in body for body in bodies)  # not even the password's first characters


async def test_observed_values_units_and_endpoints_are_redacted_too() -> None:
    async def detailed() -> Result:
        return Result(
            Status.WARN,
            observed_value={
                "primary": "postgresql://billing:hunter2@db/billing",
                "lag": [1, "token=hunter2"],
            },
            observed_unit="token=hunter2",
            affected_endpoints=["https://api.internal/v1/orders?api_key=hunter2"],
        )

    response = await request(Health([Check("db", detailed)]))

    assert 200 == response.status_code
    assert "hunter2" not in response.text
    assert "postgresql://billing:***@db/billing" in response.text


async def test_listeners_and_the_log_get_redacted_outputs(caplog: pytest.LogCaptureFixture) -> None:
    async def leaking() -> None:
        msg = "redis://:hunter2@cache:6379 refused"
        raise ConnectionError(msg)

    health = Health([Check("cache", leaking)], expose_errors=True)
    outputs: list[str | None] = []
    health.on_change(lambda change: outputs.append(change.output))

    with caplog.at_level(logging.INFO, logger="healthkit"):
        await request(health)

    assert outputs
    assert not any("hunter2" in (output or "") for output in outputs)
    assert "hunter2" not in "\n".join(record.getMessage() for record in caplog.records)


@pytest.mark.shipping_defaults
async def test_answers_that_depend_on_the_requester_are_never_shared_by_caches() -> None:
    token = "0123456789abcdef-ops"
    health = Health([Check("db", leaky)], cache_control="max-age=5", authorize=bearer_token(token))
    app = app_for(health)

    detailed = await request(app, path="/health", headers={"authorization": f"Bearer {token}"})
    anonymous = await request(app, path="/health")
    probe = await request(app, path="/readyz")

    assert "private, no-store" == detailed.headers["cache-control"]
    assert "max-age=5" == anonymous.headers["cache-control"]
    assert "Accept, Authorization, Cookie" == detailed.headers["vary"] == anonymous.headers["vary"]
    assert "Accept" == probe.headers["vary"]


@pytest.mark.parametrize(
    "token", ["ünïcode-token-0123456789", " padded-token-0123456789", "two words token here"]
)
def test_bearer_token_refuses_tokens_a_header_cannot_carry(token: str) -> None:
    with pytest.raises(ValueError, match="printable ASCII without spaces"):
        bearer_token(token)


@pytest.mark.shipping_defaults
async def test_an_authorizer_answering_something_else_than_a_bool_shows_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = Health([Check("db", leaky)], authorize=lambda request: "yes")  # type: ignore[arg-type,return-value]

    with caplog.at_level(logging.WARNING, logger="healthkit"):
        body = document(await request(app_for(health), path="/health"))

    assert {"status", "checks"} == set(body)
    assert "not True or False" in caplog.text


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError


async def test_an_exception_whose_text_cannot_be_read_is_still_a_plain_fail() -> None:
    async def odd() -> None:
        raise Unprintable

    health = Health([Check("odd", odd)], expose_errors=True)

    async with lifespan(health):
        response = await request(health)

    assert 503 == response.status_code
    assert document(response)["checks"]["odd"][0]["output"].startswith(
        "Unprintable: (its text could not be read)"
    )


async def test_exception_text_with_lone_surrogates_is_escaped_not_a_500() -> None:
    async def odd() -> None:
        raise ValueError("bad byte " + b"\xff".decode("utf-8", "surrogateescape"))

    health = Health([Check("odd", odd)], expose_errors=True)

    json_answer = await request(app_for(health), path="/health")
    text_answer = await request(app_for(health), path="/health?verbose")

    assert 503 == json_answer.status_code == text_answer.status_code
    assert "bad byte \\udcff" in document(json_answer)["checks"]["odd"][0]["output"]


async def test_a_cached_value_is_a_copy_the_check_cannot_change_later() -> None:
    shared: dict[str, object] = {"rows": 1}

    async def check() -> Result:
        return Result(Status.PASS, observed_value=shared)

    health = Health([Check("db", check, cache_ttl=60)])
    await request(health)
    shared["rows"] = object()  # the check's own object changes after its result was cached

    response = await request(health)

    assert 200 == response.status_code
    assert {"rows": 1} == document(response)["checks"]["db"][0]["observedValue"]


async def test_an_output_cannot_forge_lines_in_the_text_listing() -> None:
    async def forging() -> Result:
        return Result(Status.FAIL, output="x\n[+]payments ok\nreadyz check passed")

    response = await request(app_for(Health([Check("db", forging)])), path="/readyz?verbose")

    assert [
        "[-]db failed: x\\n[+]payments ok\\nreadyz check passed",
        "readyz check failed",
    ] == response.text.splitlines()


async def test_a_result_served_from_cache_is_masked_before_it_is_cut_too() -> None:
    async def long_output() -> Result:
        # Cut at 1024 characters first, the output would end in the password's first characters.
        return Result(Status.WARN, output="x" * 1000 + "postgresql://billing:S3cretPassw0rd@db/billing")

    health = Health([Check("db", long_output, cache_ttl=60)])
    app = app_for(health)

    fresh = await request(app, path="/health")
    cached = await request(app, path="/health")
    listing = await request(app, path="/health?verbose")

    assert "ageMs" in document(cached)["checks"]["db"][0]
    for response in (fresh, cached, listing):
        assert "(cut, " in response.text
        assert "S3" not in response.text


async def test_answers_served_from_cache_never_run_the_redactor(monkeypatch: pytest.MonkeyPatch) -> None:
    from healthkit._redact import Redactor

    masked = 0
    original = Redactor.__call__

    def counting(self: Redactor, text: str) -> str:
        nonlocal masked
        masked += 1
        return original(self, text)

    monkeypatch.setattr(Redactor, "__call__", counting)

    async def warns() -> Result:
        return Result(Status.WARN, output="replica at postgresql://app:S3cret@replica/app is 12s behind")

    health = Health([Check("replica", warns, cache_ttl=60)])
    app = app_for(health)
    first = await request(app, path="/health?verbose")
    after_first = masked
    later = [await request(app, path=path) for path in ("/health", "/health?verbose", "/health") * 10]

    assert after_first >= 1  # redacted once, when the result came in
    assert after_first == masked  # and never again on the 30 answers served from the cache
    assert all("S3" not in response.text for response in [first, *later])


async def test_a_huge_output_is_masked_and_cut_without_reading_all_of_it() -> None:
    async def chatty() -> Result:
        return Result(Status.WARN, output="password=hunter2\n" + "x" * 20_000_000)

    health = Health([Check("chatty", chatty)], deadline=5)

    with anyio.fail_after(4):  # masking 20 MB would hold the event loop far longer
        body = document(await request(app_for(health)))

    output = body["checks"]["chatty"][0]["output"]
    assert output.startswith("password=***\nxxx")
    assert output.endswith("... (cut, 20000017 characters in all)")
