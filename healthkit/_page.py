"""The status page for people, and the history as JSON: /health's other two answers.

A browser (an ``Accept`` that ranks ``text/html`` above JSON, plain text and ``*/*``) gets an HTML
page; ``?history`` gets the recent status changes as JSON. Both follow the endpoint's detail
level (statuses only unless details are shown) and answer with the document's status code.

The page is one self-contained document: no script, no image, no font, no request of its own;
its one style sheet is allowed by hash in a ``Content-Security-Policy`` that forbids everything
else. It refreshes itself with ``<meta http-equiv="refresh">``, so it needs no JavaScript. Every
text in it is escaped with ``html.escape``.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl

import orjson
from starlette.types import Scope, Send

from ._check import Check
from ._history import Change, History
from ._outcome import CheckReport
from ._report import Report
from ._status import Status
from ._text import clip

__all__ = ["CONTENT_SECURITY_POLICY", "REFRESH", "Page", "PageSettings", "View", "prefers_html"]

#: Seconds between the page's refreshes.
REFRESH = 5
#: Characters of an earlier output the history on the page shows (the JSON has them whole).
_HISTORY_OUTPUT = 200

_FLAGS = {"": True, "1": True, "true": True, "0": False, "false": False}
_ORDER = {Status.FAIL: 0, Status.WARN: 1, Status.PASS: 2}
# In the title; on the page the style sheet draws them (.s-pass, .s-warn, .s-fail: --i).
_ICON = {Status.PASS: "\u2713", Status.WARN: "!", Status.FAIL: "\u2715"}  # check mark, !, cross
_ALLOW = b"GET, HEAD, OPTIONS"
_DUMPS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


class PageSettings(Protocol):
    """What the page shows of a Health's settings (``_settings.Settings`` has it)."""

    @property
    def service_id(self) -> str | None: ...
    @property
    def version(self) -> str | None: ...
    @property
    def release_id(self) -> str | None: ...
    @property
    def description(self) -> str | None: ...
    @property
    def notes(self) -> Sequence[str]: ...
    @property
    def links(self) -> Mapping[str, str] | None: ...
    @property
    def cache_control(self) -> str | None: ...


def prefers_html(accept: bytes) -> bool:
    """Whether an ``Accept`` header ranks ``text/html`` (or ``application/xhtml+xml``) above
    everything that gets the document or the text listing (JSON types, ``text/plain``,
    ``text/*``, ``application/*``, ``*/*``): a higher q, or the same q and listed first. A
    browser's navigation does; curl (``*/*``), probes and API clients do not."""
    accept = accept.lower()
    if b"html" not in accept:
        return False
    html_rank: tuple[float, int] | None = None
    other_rank: tuple[float, int] | None = None
    for position, item in enumerate(accept.split(b",")):
        kind, *params = item.split(b";")
        kind = kind.strip()
        quality = 1.0
        for param in params:
            name, _, value = param.partition(b"=")
            if name.strip() == b"q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = -1.0  # a range with a q that does not parse is not counted
        if not 0.0 < quality <= 1.0:
            continue
        rank = (quality, -position)
        if kind in (b"text/html", b"application/xhtml+xml"):
            html_rank = rank if html_rank is None else max(html_rank, rank)
        elif kind in _DOCUMENT_TYPES or kind.endswith(b"+json"):
            other_rank = rank if other_rank is None else max(other_rank, rank)
    return html_rank is not None and (other_rank is None or html_rank > other_rank)


_DOCUMENT_TYPES = frozenset(
    {b"*/*", b"application/*", b"application/json", b"text/*", b"text/plain", b"application/health+json"}
)


class _Renders(Protocol):
    def __call__(self, report: Report, *, details: bool) -> bytes: ...


class View:
    """One of the page's answers (the HTML page, or the history as JSON), sent by the endpoint
    once it has the report and knows whether details may be shown."""

    __slots__ = ("_headers", "_render")

    def __init__(self, render: _Renders, headers: Mapping[bool, list[tuple[bytes, bytes]]]) -> None:
        self._render = render
        self._headers = headers

    async def send(
        self, method: str, report: Report, details: bool, send: Send, extra: Sequence[tuple[bytes, bytes]]
    ) -> None:
        body = self._render(report, details=details)
        headers = [*self._headers[details], (b"content-length", str(len(body)).encode()), *extra]
        if method == "OPTIONS":
            headers.append((b"allow", _ALLOW))
        await send({"type": "http.response.start", "status": report.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


class Page:
    """/health's status page and history; ``view(scope)`` says whether a request wants one."""

    __slots__ = ("_as_html", "_as_json", "_checks", "_head", "_refresh", "_service", "history")

    def __init__(self, history: History, settings: PageSettings, *, refresh: int = REFRESH) -> None:
        self.history = history
        self._refresh = refresh
        # check name -> (the check, then what _static gives)
        self._checks: dict[str, tuple[Check, str, str, str, str]] = {}
        self._service = settings.service_id
        # The service's own fields, shown with details: a line of what it is, its notes, its links.
        about = (
            settings.description,
            settings.version and f"version {settings.version}",
            settings.release_id and f"release {settings.release_id}",
        )
        lines = [" \u00b7 ".join(part for part in about if part), *settings.notes]
        if settings.links:
            lines.append(", ".join(f"{rel}: {uri}" for rel, uri in settings.links.items()))
        self._head = "".join(f"<p class=mute>{_e(line)}</p>" for line in lines if line)
        shared = [(b"cache-control", settings.cache_control.encode())] if settings.cache_control else []
        private = [(b"cache-control", b"private, no-store")]  # details are never stored
        page = [(b"content-type", b"text/html; charset=utf-8"), *_LOCKED_DOWN]
        timeline = [(b"content-type", b"application/json"), (b"x-content-type-options", b"nosniff")]
        self._as_html = View(self.render, {False: page + shared, True: page + private})
        self._as_json = View(self.render_history, {False: timeline + shared, True: timeline + private})

    def view(self, scope: Scope, accept: bytes) -> View | None:
        """The answer a request wants: the history (``?history``), the page (an ``Accept`` that
        prefers HTML, unless ``?verbose`` asks for the text listing), or None (the document or
        the listing, as for any client). ``accept``: the request's Accept values, joined. A bad
        ``history`` value raises ValueError: the endpoint refuses it (400) before anything runs."""
        query = scope.get("query_string")
        if query:
            wanted: bool | None = None
            verbose = False
            for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if key == "history":
                    wanted = _FLAGS.get(value.lower())
                    if wanted is None:
                        msg = f"history takes no value, or one of 1, true, 0, false; got {clip(value, 64)!r}"
                        raise ValueError(msg)
                elif key == "verbose":
                    verbose = _FLAGS.get(value.lower(), False)
            if wanted:
                return self._as_json
            if verbose:
                return None
        return self._as_html if accept and prefers_html(accept) else None

    # --- the page ---

    def render(self, report: Report, *, details: bool) -> bytes:
        """The HTML page; without ``details``, the overall status and each check's status only."""
        now = datetime.now(UTC)
        today = now.date()
        status = report.status
        checks = sorted(report.checks.values(), key=lambda item: _ORDER[item.status])
        counts = dict.fromkeys(Status, 0)
        for item in checks:
            counts[item.status] += 1
        name = self._service if details and self._service else "Health"
        word = status.value
        out = [
            _HEAD,
            f"<meta http-equiv=refresh content={self._refresh}>",
            f"<title>{_ICON[status]} {word} \u00b7 {_e(name)}</title>",
            _STYLE_ELEMENT,
            f'</head><body><header class="top s-{word}"><div class=wrap>',
            f"<h1 class=big>{word}</h1><div class=svc><p class=name>{_e(name)}</p>",
        ]
        if details:
            out.append(self._head)
        summary = " \u00b7 ".join(
            f"{counts[s]} {label}"
            for s, label in ((Status.FAIL, "failing"), (Status.WARN, "warning"), (Status.PASS, "passing"))
            if counts[s] or s is Status.PASS
        )
        out.append(f"<p>{summary}</p></div>")
        out.append(
            f'<p class="mute when">Checked at {now:%H:%M:%S} UTC<br>refreshes every {self._refresh} s</p>'
        )
        out.append("</div></header><main class=wrap>")
        if report.reason is not None and status is not Status.PASS:
            out.append(f'<p class="reason s-{word}">{_e(report.reason)}</p>')
        if report.excluded:
            out.append(f"<p class=mute>Left out on request: {_e(', '.join(report.excluded))}</p>")
        out.append("<ul class=grid>")
        if details:
            for item in checks:
                self._card(out, item, today)
        else:
            out.extend(_CARD[item.status] + self._static(item.check)[0] + "</h2></li>" for item in checks)
        out.append("</ul>")
        if details:
            overall = self.history.changes(None)
            if overall:
                out.append("<section class=overall><h2>Overall status changes</h2><ol class=h>")
                self._timeline(out, overall, today)
                out.append("</ol></section>")
            out.append(
                f"<footer>Times in UTC. This page reloads itself every {self._refresh} s. The same "
                "answer as JSON: <code>Accept: application/json</code>; the history as JSON: "
                "<a href=?history>?history</a>.</footer>"
            )
        else:
            out.append(
                "<footer>Outputs, values and history are shown to authorized requests only. "
                f"This page reloads itself every {self._refresh} s.</footer>"
            )
        out.append("</main></body></html>\n")
        return "".join(out).encode()

    def _static(self, check: Check) -> tuple[str, str, str, str]:
        """What a check's card shows of its registration, made once: (the name, its tags when
        failing, its tags otherwise, the end of its list of facts)."""
        cached = self._checks.get(check.name)
        if cached is None or cached[0] is not check:
            name = f"<code class=n>{_e(check.name)}</code>"
            kind = (
                "" if check.component_type is None else f"<span class=tag>{_e(check.component_type)}</span>"
            )
            if check.critical:
                failing = other = f"<span class=tag>critical</span>{kind}</h2>"
            else:
                failing = f"<span class=tag>not critical: counts as warn</span>{kind}</h2>"
                other = f"<span class=tag>not critical</span>{kind}</h2>"
            tail = ""
            if check.component_id is not None:
                tail += f"<div><dt>component id<dd>{_e(check.component_id)}</div>"
            if check.links:
                links = ", ".join(f"{rel}: {uri}" for rel, uri in check.links.items())
                tail += f"<div><dt>links<dd>{_e(links)}</div>"
            cached = self._checks[check.name] = (check, name, failing, other, tail + "</dl>")
        return cached[1:]

    def _card(self, out: list[str], item: CheckReport, today: date) -> None:
        status = item.status
        name, failing, other, tail = self._static(item.check)
        out.append(_CARD[status])
        out.append(name)
        if status is Status.PASS:
            out.append(other)
        else:
            out.append(failing if status is Status.FAIL else other)
            if item.output is not None:
                out.append(f"<pre>{_e(item.output)}</pre>")
        out.append("<dl>")
        if item.observed_value is not None:
            value = _value(item.observed_value)
            if item.observed_unit is not None:
                value = f"{value} {item.observed_unit}"
            out.append(f"<div><dt>observed<dd>{_e(value)}</div>")
        age = "this request" if item.age is None else f"{_span(item.age)} ago"
        out.append(f"<div><dt>took<dd>{_took(item.duration)}</div><div><dt>checked<dd>{age}</div>")
        if status is not Status.PASS and item.affected_endpoints:
            out.append(f"<div><dt>affects<dd>{_e(', '.join(item.affected_endpoints))}</div>")
        out.append(tail)
        changes = self.history.changes(item.check.name)
        if changes:
            out.append("<p class=hl>Status changes</p><ol class=h>")
            self._timeline(out, changes, today, item.output)
            out.append("</ol>")
        out.append("</li>")

    def _timeline(self, out: list[str], changes: list[Change], today: date, shown: str | None = None) -> None:
        """Changes as list items, the newest first. A change that has ended is made once (per
        day: its times carry their date unless it is today's); the one that holds is made anew,
        without its output when the card shows that already."""
        for change in changes:
            if change.until is None:
                output = None if change.output == shown else change.output
                out.append(_change(change, self.history.held(change), today, output))
                continue
            rendered = change.rendered
            if rendered is None or rendered[0] != today:
                rendered = change.rendered = (
                    today,
                    _change(change, change.held or 0.0, today, change.output),
                )
            out.append(rendered[1])

    # --- the history as JSON ---

    def render_history(self, report: Report, *, details: bool) -> bytes:
        """``{"status", "checks": {name: {"status", "changes": [...]}}, "changes": [...]}``: each
        change the newest first, ``status``, ``since``, ``until`` (left out while it holds),
        ``seconds`` it held (so far, while it holds) and ``output``. Without ``details`` only the
        statuses: no ``changes``."""
        document: dict[str, Any] = {"status": report.status}
        if not details:
            document["checks"] = {name: {"status": item.status} for name, item in report.checks.items()}
            return orjson.dumps(document)
        document["checks"] = {
            name: {"status": item.status, "changes": self._changes(name)}
            for name, item in report.checks.items()
        }
        document["changes"] = self._changes(None)
        return orjson.dumps(document, option=_DUMPS)

    def _changes(self, name: str | None) -> list[dict[str, Any]]:
        out = []
        for change in self.history.changes(name):
            entry: dict[str, Any] = {"status": change.status, "since": change.since}
            if change.until is not None:
                entry["until"] = change.until
            entry["seconds"] = round(self.history.held(change), 3)
            if change.output is not None and change.status is not Status.PASS:
                entry["output"] = change.output
            out.append(entry)
        return out


def _change(change: Change, held: float, today: date, output: str | None) -> str:
    status = change.status
    lasted = f"for {_span(held)}" if change.until is not None else f"for {_span(held)} so far"
    item = f"{_ITEM[status]}<span>{_when(change.since, today)}</span><span class=mute>{lasted}</span>"
    if output is not None and status is not Status.PASS:
        item += f"<code>{_e(clip(output, _HISTORY_OUTPUT))}</code>"
    return item + "</li>"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _value(value: object) -> str:
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # results are checked when they come in; this is the last net
        return repr(value)


def _took(seconds: float) -> str:
    """How long a call took: 0.42 ms, 12 ms, 1.25 s."""
    ms = seconds * 1000
    if ms < 10:
        return f"{ms:.2f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{seconds:.2f} s"


def _span(seconds: float) -> str:
    """A stretch of time as people read it: under 0.1 s, 0.4 s, 12 s, 3m 05s, 2h 10m, 3d 4h."""
    if seconds < 0.1:
        return "under 0.1 s"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d {whole % 86400 // 3600}h"


def _when(moment: datetime, today: date) -> str:
    """A time in UTC; with its date unless it is today's."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    elif moment.utcoffset():
        moment = moment.astimezone(UTC)
    clock = f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    return clock if moment.date() == today else f"{moment.date().isoformat()} {clock}"


# Per status: a card's start and a history item's start.
_CARD = {s: f'<li class="c s-{s.value}"><h2><b class=b>{s.value}</b>' for s in Status}
_ITEM = {s: f"<li class=s-{s.value}><b class=b>{s.value}</b>" for s in Status}

# One style sheet for light and dark, phone and wide screen; allowed by its hash.
_CSS = """\
:root{color-scheme:light dark;--bg:#f4f5f7;--fg:#1f2328;--mute:#59636e;--card:#fff;--line:#d1d9e0;\
--pass:#1a7f37;--warn:#9a6700;--fail:#cf222e;--pass-bg:#dafbe1;--warn-bg:#fff4c2;--fail-bg:#ffebe9}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--mute:#9198a1;--card:#161b22;\
--line:#30363d;--pass:#3fb950;--warn:#d29922;--fail:#f85149;--pass-bg:#12261a;--warn-bg:#2b2210;\
--fail-bg:#34171a}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);\
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","DejaVu Sans",sans-serif}
.s-pass{--c:var(--pass);--cb:var(--pass-bg);--i:"\\2713"}.s-warn{--c:var(--warn);--cb:var(--warn-bg);--i:"!"}\
.s-fail{--c:var(--fail);--cb:var(--fail-bg);--i:"\\2715"}
.wrap{max-width:84rem;margin:0 auto;padding:0 1rem}
.top{background:var(--card);border-top:.4rem solid var(--c);border-bottom:1px solid var(--line)}
.top .wrap{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 2rem;padding-block:1.1rem}
.big{display:flex;align-items:center;gap:.6rem;margin:0;color:var(--c);font-size:2.2rem;\
line-height:1.1;font-weight:800;letter-spacing:.05em;text-transform:uppercase}
.b::before,.big::before{content:var(--i)/"";display:inline-flex;align-items:center;justify-content:center;\
flex:none;width:1.4em;height:1.4em;border-radius:50%;background:var(--c);color:var(--card);\
font-weight:800;line-height:1;letter-spacing:0}
.big::before{font-size:1.4rem;width:2.4rem;height:2.4rem}
.svc{flex:1 1 14rem;min-width:0}.svc p{margin:0}
.name{font-weight:650;font-size:1.15rem;overflow-wrap:anywhere}
.when{margin:0;font-size:.85rem;text-align:right}
.mute{color:var(--mute)}
.reason{margin:1rem 0 0;padding:.6rem .9rem;border-radius:.5rem;background:var(--cb);\
border-left:.3rem solid var(--c)}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,23rem),1fr));gap:.75rem;\
margin:1rem 0;padding:0;list-style:none;align-items:start}
.c,.overall{min-width:0;background:var(--card);border:1px solid var(--line);border-left:.3rem solid var(--c);\
border-radius:.5rem;padding:.7rem .9rem}
h2{display:flex;flex-wrap:wrap;align-items:center;gap:.35rem .6rem;margin:0;font-size:1rem}
.overall{--c:var(--line);margin:1rem 0}
.b{display:inline-flex;align-items:center;gap:.35rem;padding:.1rem .55rem .1rem .15rem;\
border-radius:1rem;background:var(--cb);color:var(--c);font-size:.75rem;font-weight:800;\
letter-spacing:.05em;text-transform:uppercase;white-space:nowrap}
.b::before{font-size:.85rem}
code,pre{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,"DejaVu Sans Mono",monospace}
.n{font-size:.95rem;font-weight:600;line-height:1.3;overflow-wrap:anywhere;min-width:0}
.tag{font-size:.72rem;font-weight:500;color:var(--mute);border:1px solid var(--line);\
border-radius:.3rem;padding:0 .35rem}
pre{margin:.55rem 0 0;padding:.45rem .6rem;border-radius:.35rem;background:var(--cb);font-size:.8rem;\
line-height:1.45;white-space:pre-wrap;overflow-wrap:anywhere}
dl{display:flex;flex-wrap:wrap;gap:.2rem 1.4rem;margin:.5rem 0 0;font-size:.85rem}
dl div{min-width:0}dt{color:var(--mute);font-size:.72rem}dd{margin:0;overflow-wrap:anywhere}
.hl{margin:.6rem 0 0;padding-top:.4rem;border-top:1px dashed var(--line);color:var(--mute);font-size:.72rem}
.h{margin:.1rem 0 0;padding:0;list-style:none;font-size:.8rem}
.overall .h{margin-top:.5rem}
.h li{display:flex;flex-wrap:wrap;align-items:baseline;gap:0 .6rem;padding:.12rem 0}
.h .b{font-size:.65rem}.h .b::before{font-size:.7rem}
.h code{flex-basis:100%;padding-left:.2rem;color:var(--mute);font-size:.75rem;line-height:1.4;\
overflow-wrap:anywhere}
footer{padding:.5rem 0 2rem;color:var(--mute);font-size:.8rem}
footer code{font-size:.75rem}
a{color:inherit}
@media (max-width:40rem){.when{text-align:left}.big{font-size:1.8rem}.top .wrap{gap:.4rem 1rem}}
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()
_STYLE_ELEMENT = f"<style>{_CSS}</style>"
_HEAD = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width,initial-scale=1">'
    '<meta name="color-scheme" content="light dark"><meta name="referrer" content="no-referrer">'
)
#: No script, image, font, frame or connection at all; the style sheet by its hash.
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
_LOCKED_DOWN = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
]
