"""Every Python example in README.md and docs/ runs, so none can rot; every relative link resolves.

Each ```python block runs in a fresh namespace of stand-ins (tests/docs_namespace.py). An HTML
comment on the line above a block (invisible on the page) changes that:

    <!-- docs-test: continue -->      run in the namespace the previous block of the page left
    <!-- docs-test: get /PATH -->     then GET /PATH from the block's `app`, inside its lifespan: a
                                      health document, valid against the schema
    <!-- docs-test: skip REASON -->   do not run it; REASON is required

Top-level `await` works (the block runs on asyncio, as in `python -m asyncio`).
"""

from __future__ import annotations

import ast
import inspect
import logging
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests import docs_namespace
from tests.conftest import document, lifespan, request

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w+-]*)\s*$")
MARKER = re.compile(r"^\s*<!-- docs-test: (?P<verb>continue|get|skip)(?: (?P<argument>.+?))? -->\s*$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    source: str
    verb: str | None
    argument: str | None

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The page's ```python blocks, each with the marker on the line above it (if any)."""
    lines = page.read_text().splitlines()
    found = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].strip() == "```")
        if opening["lang"] == "python":
            previous = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
            marker = MARKER.match(previous)
            source = textwrap.dedent("\n".join(lines[index + 1 : end]))
            verb, argument = (marker["verb"], marker["argument"]) if marker else (None, None)
            found.append(Block(page, index + 1, source + "\n", verb, argument))
        index = end + 1
    return found


ALL = [block for page in PAGES for block in blocks(page)]


def test_the_pages_have_examples_and_every_marker_is_well_formed() -> None:
    names = {block.page.name for block in ALL}
    markers = [
        line
        for page in PAGES
        for line in page.read_text().splitlines()
        if "docs-test" in line and not line.lstrip().startswith(("`", "-", "|"))
    ]

    assert {"README.md", "getting-started.md", "checks.md", "catalog.md", "testing.md"} <= names
    for page in PAGES:  # none is swallowed by a fence left open (a closing ``` with text after it)
        openings = [line for line in page.read_text().splitlines() if FENCE.match(line)]
        assert len([o for o in openings if o.strip() == "```python"]) == len(blocks(page)), page
    assert all(MARKER.match(line) for line in markers), markers
    assert all(block.argument for block in ALL if block.verb in {"skip", "get"})
    assert all(block.argument is None for block in ALL if block.verb == "continue")


@pytest.fixture
def global_state() -> Iterator[None]:
    """Put back what an example changes for the whole process: healthkit's logger (a logging
    configuration) and prometheus-client's default registry (PrometheusMetrics())."""
    logger = logging.getLogger("healthkit")
    saved = (logger.level, logger.propagate, list(logger.handlers), list(logger.filters))
    from prometheus_client import REGISTRY

    collectors = set(REGISTRY._collector_to_names)
    try:
        yield
    finally:
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        logger.handlers[:] = saved[2]
        logger.filters[:] = saved[3]
        for collector in set(REGISTRY._collector_to_names) - collectors:
            REGISTRY.unregister(collector)


def namespaces() -> dict[str, dict[str, Any]]:
    """Each block's namespace, by name: a `continue` block shares the one before it on its page."""
    made: dict[str, dict[str, Any]] = {}
    previous: dict[Path, dict[str, Any]] = {}
    for block in ALL:
        if block.verb == "continue":
            made[block.name] = previous[block.page]
        else:
            made[block.name] = previous[block.page] = {}
    return made


NAMESPACES = namespaces()


@pytest.mark.shipping_defaults
@pytest.mark.parametrize("block", ALL, ids=[block.name for block in ALL])
def test_example_runs(block: Block, monkeypatch: pytest.MonkeyPatch, global_state: None) -> None:
    if block.verb == "skip":
        pytest.skip(f"{block.name}: {block.argument}")
    for name, value in docs_namespace.ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    names = NAMESPACES[block.name]
    if not names:
        names.update(docs_namespace.namespace())
    code = compile(block.source, block.name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)

    async def run() -> None:
        if code.co_flags & inspect.CO_COROUTINE:
            await eval(code, names)
        else:
            exec(code, names)
        if block.verb == "get":
            assert block.argument is not None
            async with lifespan(names["app"]):
                document(await request(names["app"], path=block.argument))

    anyio.run(run, backend="asyncio")


LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


@pytest.mark.parametrize("page", ["README.md", "CHANGELOG.md"])
def test_every_relative_link_points_at_a_file_that_exists(page: str) -> None:
    """On GitHub and in the sdist, README.md links into docs/ (mkdocs build --strict checks the
    links between the docs pages themselves)."""
    targets = [match["target"] for match in LINK.finditer((ROOT / page).read_text())]
    relative = [target.split("#")[0] for target in targets if "://" not in target and target[0] != "#"]

    assert relative or page != "README.md"
    assert [] == [target for target in relative if not (ROOT / target).exists()]
