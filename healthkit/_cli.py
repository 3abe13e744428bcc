"""The command line: ``healthkit probe | run | describe`` (also ``python -m healthkit``).

Exit codes: 0 healthy (pass or warn), 1 not healthy, 2 the command could not run (bad
arguments, a ``MODULE:ATTR`` that names no Health, an app that fails to import). Docker's
HEALTHCHECK reads 0 and 1; the probe exits 2 only on arguments it refuses before probing.

``probe`` needs the standard library only: ``run`` and ``describe`` import the engine when
they are chosen, not before.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence

from ._prober import DEFAULT_TIMEOUT, parse_header, parse_url, probe

__all__ = ["main"]

_ENDPOINTS = ("health", "livez", "readyz", "startupz")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    command: str = args.command
    if command == "probe":
        verdict = probe(args.url, timeout=args.timeout, headers=args.header)
        print(verdict.line, file=sys.stderr)
        return 0 if verdict.healthy else 1
    return _in_process(parser.prog, args)


def _in_process(prog: str, args: argparse.Namespace) -> int:
    """``run`` and ``describe``: load the app's Health and work with it in this process."""
    from . import _target  # the engine: starlette, anyio, orjson

    command: str = args.command
    _target.show_log(command == "run" and args.verbose)
    try:
        try:
            health = _target.load(args.target, args.app_dir)
        except _target.UsageError:
            raise
        except Exception:
            import traceback

            traceback.print_exc()
            print(f"{prog} {command}: error: importing {args.target!r} raised", file=sys.stderr)
            return 2
        if command == "describe":
            sys.stdout.write(_target.describe(health))
            return 0
        if args.loop == "trio" and not _installed("trio"):
            msg = "--loop trio needs trio installed (pip install trio)"
            raise _target.UsageError(msg)
        report = _target.run(health, args.endpoint, check=args.check, backend=args.loop)
    except _target.UsageError as exc:
        print(f"{prog} {command}: error: {exc}", file=sys.stderr)
        return 2
    out = sys.stdout.buffer
    out.write(report.to_json() + b"\n" if args.json else report.to_text())
    out.flush()
    return 0 if report.passed else 1


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _parser() -> argparse.ArgumentParser:
    invoked = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    prog = "python -m healthkit" if invoked in ("__main__.py", "-m", "-c", "") else "healthkit"
    parser = argparse.ArgumentParser(
        prog=prog, description="healthkit's command line: probe a health endpoint, run or describe checks."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    probe_ = commands.add_parser(
        "probe",
        help="GET a health endpoint: exit 0 when healthy (2xx, 3xx), 1 otherwise",
        description=(
            "GET URL and exit 0 if it answers 2xx or 3xx (redirects are not followed), 1 on any other "
            "status, a timeout, a refused connection, a failed name lookup or an answer that is not "
            "HTTP; one line on stderr says why (with the failing and warning checks when the body is "
            "application/health+json). For Docker's HEALTHCHECK and exec probes: the standard library "
            "only. https checks the certificate against the system's trust store."
        ),
    )
    probe_.add_argument(
        "url", type=_url, metavar="URL", help="http:// or https://, e.g. http://127.0.0.1:8000/readyz"
    )
    probe_.add_argument(
        "--timeout",
        type=_timeout,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"for the whole exchange, name lookup to last byte (default {DEFAULT_TIMEOUT:g}; keep it "
        "below Docker's --timeout and a kubelet exec probe's timeoutSeconds)",
    )
    probe_.add_argument(
        "--header",
        type=_header,
        action="append",
        default=[],
        metavar="NAME:VALUE",
        help="a request header, e.g. 'Authorization: Bearer ...' (repeatable)",
    )

    for name, summary in (
        ("run", "run an endpoint's checks in this process and print the report: exit 0 pass/warn, 1 fail"),
        ("describe", "show which endpoint runs which checks, with their settings and the start-up warnings"),
    ):
        sub = commands.add_parser(name, help=summary, description=summary)
        sub.add_argument("target", metavar="MODULE:ATTR", help="the app's Health, e.g. myapp.health:health")
        sub.add_argument(
            "--app-dir",
            default=".",
            metavar="DIR",
            help="put DIR first on sys.path to import MODULE, as uvicorn does (default: .)",
        )
        if name == "run":
            sub.add_argument(
                "--endpoint", choices=_ENDPOINTS, default="health", help="default: health (every check)"
            )
            sub.add_argument("--check", metavar="NAME", help="run only this check, without the lifecycle")
            sub.add_argument("--json", action="store_true", help="print the application/health+json document")
            sub.add_argument(
                "-v",
                "--verbose",
                action="store_true",
                help="show healthkit's log on stderr (a failure's error id and traceback, status changes)",
            )
            sub.add_argument(
                "--loop",
                choices=("asyncio", "trio"),
                default="asyncio",
                help="the event loop (default asyncio)",
            )
    return parser


def _url(text: str) -> str:
    try:
        parse_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        msg = f"--timeout must be a positive number of seconds, like 5 or 0.5, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _header(text: str) -> tuple[str, str]:
    try:
        return parse_header(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
