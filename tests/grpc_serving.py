"""gRPC health in tests: a real grpcio client's Check and Watch, and tests/apps/grpc_app.py (the
gRPC health service beside a Starlette app) under a real uvicorn."""

from __future__ import annotations

import sys
from pathlib import Path
from types import TracebackType

import anyio
import grpc
import grpc.aio
import httpx2
from grpc_health.v1 import health_pb2

from tests.servers import Server, free_port

ROOT = Path(__file__).resolve().parent.parent
Request = health_pb2.HealthCheckRequest
Response = health_pb2.HealthCheckResponse


def status_name(status: int) -> str:
    """``SERVING``, ``NOT_SERVING``, ``SERVICE_UNKNOWN`` or ``UNKNOWN``."""
    return health_pb2.HealthCheckResponse.ServingStatus.Name(status)


async def check(port: int, service: str = "") -> str:
    """One ``Check`` call: the status answered, or the name of the call's error code."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=Request.SerializeToString,
            response_deserializer=Response.FromString,
        )
        try:
            response = await call(Request(service=service), timeout=5)
        except grpc.aio.AioRpcError as exc:
            return str(exc.code().name)
    return status_name(response.status)


class Watch:
    """One ``Watch`` call, as ``async with Watch(port, service) as watch``: ``await
    watch.next()`` is the next status sent, or ``END <code>`` once the stream has ended."""

    def __init__(self, port: int, service: str = "") -> None:
        self._channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        watch = self._channel.unary_stream(
            "/grpc.health.v1.Health/Watch",
            request_serializer=Request.SerializeToString,
            response_deserializer=Response.FromString,
        )
        self._call = watch(Request(service=service))

    async def __aenter__(self) -> Watch:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._call.cancel()
        await self._channel.close()

    async def next(self, within: float = 5.0) -> str:
        with anyio.fail_after(within):
            try:
                message = await self._call.read()
            except grpc.aio.AioRpcError as exc:
                return f"END {exc.code().name}"
            if not isinstance(message, Response):  # grpc.aio.EOF
                return f"END {(await self._call.code()).name}"
        return status_name(message.status)

    def open(self) -> bool:
        """Whether the stream is still open."""
        return not self._call.done()


class GrpcApp(Server):
    """tests/apps/grpc_app.py under a real uvicorn: HTTP on ``port`` (``url``), gRPC on
    ``grpc_port``. ``GrpcApp(grpc_port=...)`` starts it again on the same gRPC port."""

    def __init__(self, *, drain_delay: float | None = None, grpc_port: int | None = None) -> None:
        self.grpc_port = grpc_port or free_port()
        port = free_port()
        command = [sys.executable, "-m", "uvicorn", "tests.apps.grpc_app:app", "--host", "127.0.0.1"]
        command += ["--port", str(port), "--log-level", "warning"]
        env = {
            "PYTHONPATH": f"{ROOT}",
            "HEALTHKIT_GRPC_PORT": str(self.grpc_port),
            "HEALTHKIT_DRAIN_DELAY": "" if drain_delay is None else str(drain_delay),
        }
        super().__init__(command, port, env)

    async def send(self, method: str, path: str) -> int:
        """An HTTP request to the app: its status code."""
        async with httpx2.AsyncClient(base_url=self.url) as client:
            return (await client.request(method, path, timeout=5)).status_code
