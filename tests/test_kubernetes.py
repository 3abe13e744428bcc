"""examples/kubernetes/deployment.yaml (HTTP probes) and deployment-grpc.yaml (gRPC probes) agree
with healthkit's settings for examples/service.py."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from starlette.routing import Route

from tests.conftest import lifespan
from tests.grpc_serving import check
from tests.servers import EXAMPLES, load_example

PROBES = [("startupProbe", "startupz"), ("livenessProbe", "livez"), ("readinessProbe", "readyz")]


@pytest.fixture(scope="module", params=["deployment.yaml", "deployment-grpc.yaml"])
def container(request: pytest.FixtureRequest) -> dict[str, Any]:
    manifest = yaml.safe_load((EXAMPLES / "kubernetes" / request.param).read_text())
    spec: dict[str, Any] = manifest["spec"]["template"]["spec"]
    [only] = spec["containers"]
    return {"pod": spec, **only}


def environment(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container["env"]}


@pytest.fixture(scope="module")
def service(container: dict[str, Any]) -> ModuleType:
    return load_example("service.py", environment(container))


@pytest.mark.parametrize(("probe", "role"), PROBES)
def test_each_probe_is_served_and_answered_within_its_timeout(
    container: dict[str, Any], service: ModuleType, probe: str, role: str
) -> None:
    settings = container[probe]
    deadline = service.health.probes[role].deadline or service.health.deadline

    if "grpc" in settings:
        served = service.grpc_health.servicer.services
        assert settings["grpc"]["port"] == service.grpc_health.port
        assert role == served[settings["grpc"].get("service", "")]
    else:
        paths = {route.path for route in service.app.routes if isinstance(route, Route)}
        assert settings["httpGet"]["path"] in paths
    assert deadline < settings["timeoutSeconds"]


def test_grpc_probes_name_the_port_the_container_exposes(container: dict[str, Any]) -> None:
    probed = {container[probe]["grpc"]["port"] for probe, _ in PROBES if "grpc" in container[probe]}
    exposed = {port["containerPort"] for port in container["ports"]}

    assert probed <= exposed
    if probed:
        assert {int(environment(container)["HEALTHKIT_GRPC_PORT"])} == probed


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # grpc.aio runs on asyncio only
async def test_the_kubelets_grpc_probes_pass_on_a_healthy_pod(tmp_path: Path) -> None:
    """Each grpc: probe of deployment-grpc.yaml, as the kubelet sends it (Check with the
    manifest's service name), against the example started by its lifespan (on a free port)."""
    manifest = yaml.safe_load((EXAMPLES / "kubernetes" / "deployment-grpc.yaml").read_text())
    [container] = manifest["spec"]["template"]["spec"]["containers"]
    env = environment(container) | {"HEALTHKIT_GRPC_PORT": "0", "HEALTHKIT_SERVICE_DB": str(tmp_path / "db")}
    service = load_example("service.py", env)

    async with lifespan(service.app):
        answers = {
            probe: await check(service.grpc_health.port, container[probe]["grpc"]["service"])
            for probe, _ in PROBES
        }
        service.health.set_ready(False, "maintenance")
        maintenance = await check(service.grpc_health.port, container["readinessProbe"]["grpc"]["service"])

    assert {probe: "SERVING" for probe, _ in PROBES} == answers
    assert "NOT_SERVING" == maintenance


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
