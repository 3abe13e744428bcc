"""Serve examples/service.py with hypercorn, draining on SIGTERM through healthkit's trigger.

    python examples/serve_hypercorn.py [--trio] [--port 8000] [--app service]

``--app`` names another module of examples/ with an ``app`` and its ``health`` (``fastapi_app``,
``plain_asgi``).

hypercorn's own command line handles signals in a parent process that never loads the app, so
the drain needs hypercorn run from Python, with ``shutdown_trigger=health.shutdown_trigger``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from functools import partial
from pathlib import Path

from hypercorn.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trio", action="store_true", help="run on trio instead of asyncio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--app", default="service", help="the module of examples/ to serve")
    args = parser.parse_args()
    module = importlib.import_module(args.app)
    app, health = module.app, module.health
    config = Config()
    config.bind = [f"{args.host}:{args.port}"]
    config.graceful_timeout = 30
    if args.trio:
        import trio
        from hypercorn.trio import serve as trio_serve

        trio.run(partial(trio_serve, app, config, shutdown_trigger=health.shutdown_trigger))
    else:
        from hypercorn.asyncio import serve as asyncio_serve

        asyncio.run(asyncio_serve(app, config, shutdown_trigger=health.shutdown_trigger))


if __name__ == "__main__":
    main()
