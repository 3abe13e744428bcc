"""Property-based: for any checks, outcomes, timings, names and mappings, the answer is sound.

Each example runs a Health under virtual time (tests/virtual_time.py) on asyncio and trio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthkit import Check, Health, Probe, Result, Status
from healthkit._status import worst
from tests.conftest import assert_valid_document, probe
from tests.virtual_time import virtual_backend

PASS_CODES = [code for code in range(200, 400) if code not in (204, 205, 304)]
FAIL_CODES = list(range(400, 600))

part = st.text(
    st.characters(codec="utf-8", exclude_characters=":", exclude_categories=["C", "Z"]), min_size=1
)
names = st.builds(lambda c, m: c if m is None else f"{c}:{m}", part, st.none() | part)
text = st.text(st.characters(codec="utf-8"), max_size=40)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)


@dataclass
class Outcome:
    kind: str  # pass, result, raise, odd, hang, unserializable
    status: Status = Status.PASS
    output: str | None = None
    value: Any = None
    delay: float = 0.0

    def expected(self) -> Status:
        return self.status if self.kind == "result" else Status.PASS if self.kind == "pass" else Status.FAIL

    def check_fn(self) -> Any:
        async def run() -> Any:
            if self.delay:
                await anyio.sleep(self.delay)
            if self.kind == "raise":
                raise ConnectionError(self.output or "")
            if self.kind == "odd":
                return self.value
            if self.kind == "hang":
                await anyio.sleep_forever()
            if self.kind == "unserializable":
                return Result(Status.PASS, observed_value=object())
            if self.kind == "result":
                return Result(self.status, output=self.output, observed_value=self.value, observed_unit="u")
            return None

        return run


outcomes = st.one_of(
    st.builds(Outcome, st.just("pass"), delay=st.sampled_from([0.0, 0.1, 0.2])),
    st.builds(
        Outcome,
        st.just("result"),
        status=st.sampled_from(list(Status)),
        output=st.none() | text,
        value=json_value,
        delay=st.sampled_from([0.0, 0.2]),
    ),
    st.builds(Outcome, st.just("raise"), output=text),
    st.builds(Outcome, st.just("odd"), value=st.sampled_from([True, 0, "ok", [], 1.5])),
    st.builds(Outcome, st.just("hang")),
    st.builds(Outcome, st.just("unserializable")),
)


@st.composite
def setups(draw: st.DrawFn) -> dict[str, Any]:
    checks = draw(
        st.lists(
            st.tuples(names, outcomes, st.booleans(), st.none() | text),
            max_size=6,
            unique_by=lambda item: item[0],
        )
    )
    warn_only = draw(st.sets(st.sampled_from([name for name, *_ in checks]))) if checks else set()
    codes = {
        "pass": draw(st.sampled_from(PASS_CODES)),
        "warn": draw(st.sampled_from(PASS_CODES)),
        "fail": draw(st.sampled_from(FAIL_CODES)),
    }
    meta = {key: draw(st.none() | text) for key in ("version", "release_id", "service_id", "description")}
    return {"checks": checks, "warn_only": warn_only, "codes": codes, "meta": meta}


async def answer(setup: dict[str, Any]) -> tuple[Health, int, dict[str, Any]]:
    checks = [
        Check(name, outcome.check_fn(), critical=critical, component_type=kind, timeout=0.25)
        for name, outcome, critical, kind in setup["checks"]
    ]
    health = Health(
        checks,
        status_codes=setup["codes"],
        report=Probe(details="always", warn_only=setup["warn_only"]),
        **setup["meta"],
    )
    code, body = await probe(health)
    return health, code, body


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(setup=setups())
def test_any_setup_gives_a_valid_document_the_right_code_and_the_worst_status(
    backend: str, setup: dict[str, Any]
) -> None:
    name, options = virtual_backend(backend)
    health, code, body = anyio.run(answer, setup, backend=name, backend_options=options)

    # The body is valid per the schema healthkit ships.
    assert_valid_document(body)
    # The status code is the mapping's, and the draft's range holds.
    status = Status(body["status"])
    assert setup["codes"][status.value] == code
    assert code in (range(200, 400) if status is not Status.FAIL else range(400, 600))
    # The aggregate is the worst applicable status: a non-critical or warn_only failure warns.
    expected = worst(
        Status.WARN
        if outcome.expected() is Status.FAIL and (not critical or name in setup["warn_only"])
        else outcome.expected()
        for name, outcome, critical, _ in setup["checks"]
    )
    assert expected == status
    # Nothing configured is lost: every check, its status and component type, every field.
    assert {name for name, *_ in setup["checks"]} == set(body.get("checks", {}))
    for name, outcome, _, kind in setup["checks"]:
        [item] = body["checks"][name]
        assert outcome.expected().value == item["status"]
        assert kind == item.get("componentType")
    for key, field in (("version", "version"), ("release_id", "releaseId"), ("service_id", "serviceId")):
        assert setup["meta"][key] == body.get(field)
    assert health.status_codes == {Status(k): v for k, v in setup["codes"].items()}
