"""examples/kubernetes/deployment.yaml agrees with healthkit's settings for examples/service.py."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
import yaml
from starlette.routing import Route

from tests.servers import EXAMPLES, load_example


@pytest.fixture(scope="module")
def container() -> dict[str, Any]:
    manifest = yaml.safe_load((EXAMPLES / "kubernetes" / "deployment.yaml").read_text())
    spec: dict[str, Any] = manifest["spec"]["template"]["spec"]
    [only] = spec["containers"]
    return {"pod": spec, **only}


@pytest.fixture(scope="module")
def service(container: dict[str, Any]) -> ModuleType:
    return load_example("service.py", {item["name"]: item["value"] for item in container["env"]})


@pytest.mark.parametrize(
    ("probe", "role"),
    [("startupProbe", "startupz"), ("livenessProbe", "livez"), ("readinessProbe", "readyz")],
)
def test_each_probe_path_is_served_and_answered_within_its_timeout(
    container: dict[str, Any], service: ModuleType, probe: str, role: str
) -> None:
    settings = container[probe]
    paths = {route.path for route in service.app.routes if isinstance(route, Route)}
    deadline = service.health.probes[role].deadline or service.health.deadline

    assert settings["httpGet"]["path"] in paths
    assert deadline < settings["timeoutSeconds"]


def test_the_drain_outlasts_the_readiness_probe_noticing_the_shutdown(
    container: dict[str, Any], service: ModuleType
) -> None:
    readiness = container["readinessProbe"]
    noticed_within = readiness["periodSeconds"] * readiness["failureThreshold"]

    assert service.DRAIN_DELAY is not None
    assert noticed_within < service.DRAIN_DELAY
    assert readiness["periodSeconds"] == service.health.probes["readyz"].period_seconds


def test_the_grace_period_covers_the_drain_and_the_graceful_shutdown(
    container: dict[str, Any], service: ModuleType
) -> None:
    graceful = next(
        int(arg.split("=", 1)[1])
        for arg in container["command"]
        if arg.startswith("--timeout-graceful-shutdown=")
    )

    assert service.DRAIN_DELAY + graceful < container["pod"]["terminationGracePeriodSeconds"]


def test_liveness_checks_nothing_external(service: ModuleType) -> None:
    live = [check for check in service.health.checks if "live" in check.tags]

    assert live
    assert not any(check.external for check in live)
