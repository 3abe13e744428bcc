"""A service whose checks hang, under uvicorn or hypercorn: tests/test_exit.py starts it.

    python tests/apps/hung.py SERVER PORT

SERVER is ``uvicorn`` (``uvicorn.run``, as its command line does), ``hypercorn-asyncio`` or
``hypercorn-trio`` (run from Python with ``shutdown_trigger=health.shutdown_trigger``, as
examples/serve_hypercorn.py does); on asyncio the event loop is a ``ClosingLoop``. The app's
lifespan is ``health.lifespan`` and a shutdown step after it; GET /health probes the checks,
GET /state says how far they got.

Settings from the environment:

- ``HUNG_BLOCKED``: how many plain-function checks block on one ``threading.Event`` (default 0).
- ``HUNG_RELEASE``: when that event is set: ``never`` (the default); ``lifespan``, in the app's
  lifespan shutdown step, right after healthkit's lifespan ended; or ``loop-close``, as the
  asyncio event loop closes (its threads wake when nothing runs on the loop any more; the loop
  closes once they have ended, or after 1 s).
- ``HUNG_STUBBORN``: ``1`` adds an async check that catches its cancellation and keeps going, even
  when cancelled again, until the file ``let-go`` appears in ``HUNG_STATE`` (a minute at most).
- ``HUNG_STATE``: a directory. The app writes ``lifespan-ended`` there (``time.monotonic()`` when
  healthkit's lifespan returned) and ``healthkit.log`` (the healthkit logger, WARNING and up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from healthkit import Check, Health

STATE = Path(os.environ["HUNG_STATE"])
RELEASE = os.environ.get("HUNG_RELEASE", "never")
BLOCKED = int(os.environ.get("HUNG_BLOCKED", "0"))
STUBBORN = os.environ.get("HUNG_STUBBORN") == "1"

release = threading.Event()
entered: list[threading.Thread] = []  # the threads that entered a blocked check
caught = 0  # times the stubborn check caught its first cancellation


def blocked() -> None:
    """A dependency that never answers until `release` is set."""
    entered.append(threading.current_thread())
    release.wait()


async def stubborn() -> None:
    """Ignores its cancellation: keeps going until the test lets it go."""
    global caught
    try:
        await anyio.sleep_forever()
    except anyio.get_cancelled_exc_class():
        caught += 1
        give_up = time.monotonic() + 60
        while not (STATE / "let-go").exists() and time.monotonic() < give_up:
            # asyncio's task.cancel() gets through a shield: this check ignores that too.
            with contextlib.suppress(anyio.get_cancelled_exc_class()), anyio.CancelScope(shield=True):
                await anyio.sleep(0.02)
        raise


checks = [Check(f"blocked{i}", blocked, timeout=0.25) for i in range(BLOCKED)]
if STUBBORN:
    checks.append(Check("stubborn", stubborn, timeout=0.25))
health = Health(checks, deadline=0.3)

log = logging.FileHandler(STATE / "healthkit.log")
log.setLevel(logging.WARNING)
log.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
logging.getLogger("healthkit").addHandler(log)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with health.lifespan(app):
        yield
    ended = STATE / "lifespan-ended.tmp"
    ended.write_text(repr(time.monotonic()))
    ended.rename(STATE / "lifespan-ended")  # whole or not at all, for the test that polls for it
    if RELEASE == "lifespan":
        release.set()


async def state(request: Request) -> JSONResponse:
    return JSONResponse({"entered": len(entered), "caught": caught})


app = Starlette(routes=[*health.routes(), Route("/state", state)], lifespan=lifespan)


class ClosingLoop(asyncio.SelectorEventLoop):
    """asyncio's event loop; with ``HUNG_RELEASE=loop-close`` the blocked checks' dependency comes
    back as it closes, after its last callback ran: anything their threads hand to the loop now
    never runs."""

    def close(self) -> None:
        if RELEASE == "loop-close" and not self.is_closed():
            release.set()
            give_up = time.monotonic() + 1
            for thread in entered:
                thread.join(max(give_up - time.monotonic(), 0))
        super().close()


def main() -> None:
    server, port = sys.argv[1], int(sys.argv[2])
    if server == "uvicorn":
        import uvicorn

        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", loop="__main__:ClosingLoop")
        return
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.loglevel = "WARNING"
    if server == "hypercorn-trio":
        import trio
        from hypercorn.trio import serve as trio_serve

        trio.run(partial(trio_serve, app, config, shutdown_trigger=health.shutdown_trigger))  # type: ignore[arg-type]
    else:
        from hypercorn.asyncio import serve as asyncio_serve

        with asyncio.Runner(loop_factory=ClosingLoop) as runner:
            runner.run(asyncio_serve(app, config, shutdown_trigger=health.shutdown_trigger))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
