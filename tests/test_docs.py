"""Every Python example in README.md and docs/ runs, so none can rot, and so does every example in
the docstrings the API reference shows; every relative link resolves.

Each ```python block runs in a fresh namespace of stand-ins (tests/docs_namespace.py). An HTML
comment on the line above a block (invisible on the page) changes that:

    <!-- docs-test: continue -->      run in the namespace the previous block of the page left
    <!-- docs-test: get /PATH -->     then GET /PATH from the block's `app`, inside its lifespan: a
                                      health document, valid against the schema
    <!-- docs-test: skip REASON -->   do not run it; REASON is required

Top-level `await` works (the block runs on asyncio, as in `python -m asyncio`). Blocks run in a
directory that holds what an application's would (docs_namespace.project: its alembic.ini).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import logging
import re
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
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


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    docs_namespace.project(root)
    return root


@pytest.fixture
def in_project(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in the application's directory, as its code would (relative paths such as alembic.ini)."""
    monkeypatch.chdir(project)


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
def test_example_runs(
    block: Block, monkeypatch: pytest.MonkeyPatch, global_state: None, in_project: None
) -> None:
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


# The modules whose docstrings docs/reference/ renders (`::: name`), found in its pages, with their
# submodules for `show_submodules`.
REFERENCED = sorted(
    {
        match[1]
        for page in (ROOT / "docs" / "reference").glob("*.md")
        for match in re.finditer(r"^::: ([\w.]+)", page.read_text(), re.MULTILINE)
    }
)
DOCSTRING_CODE = re.compile(r"```python\n(?P<fenced>[\s\S]*?)```|(?:^|\n\n)(?P<indented>(?: {4}.*(?:\n|$))+)")


def documented_modules() -> list[str]:
    """Each module a reference page renders (for a class or function, the module defining it)."""
    modules: set[str] = set()
    for name in REFERENCED:
        module: ModuleType | None
        try:
            module = importlib.import_module(name)
        except ImportError:
            owner = importlib.import_module(name.rsplit(".", 1)[0])
            module = inspect.getmodule(getattr(owner, name.rsplit(".", 1)[1]))
        assert module is not None
        modules.add(module.__name__)
        if hasattr(module, "__path__"):  # a package: its public submodules too
            folder = Path(module.__path__[0])
            modules |= {f"{module.__name__}.{p.stem}" for p in folder.glob("[!_]*.py")}
    return sorted(modules)


def docstring_examples() -> list[tuple[str, str]]:
    """(where, source) of each code block in a documented module's docstrings: a ```python fence, or
    a block indented by four spaces after a blank line (both render as code)."""
    found = []
    for name in documented_modules():
        tree = ast.parse(Path(inspect.getfile(importlib.import_module(name))).read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            text = ast.get_docstring(node) or ""
            for match in DOCSTRING_CODE.finditer(text):
                where = f"{name}.{getattr(node, 'name', '')}".rstrip(".")
                found.append((where, textwrap.dedent(match["fenced"] or match["indented"])))
    return found


DOCSTRINGS = docstring_examples()


def test_the_reference_renders_modules_with_examples() -> None:
    assert {"healthkit._health", "healthkit.testing", "healthkit_checks.http"} <= set(documented_modules())
    assert len(DOCSTRINGS) >= 5


@pytest.mark.parametrize(("where", "source"), DOCSTRINGS, ids=[where for where, _ in DOCSTRINGS])
def test_docstring_example_runs(where: str, source: str, global_state: None, in_project: None) -> None:
    """In the stand-ins' namespace plus the module itself (by its short name, as the examples import
    it) and its public names."""
    module = importlib.import_module(where if where in sys.modules else where.rsplit(".", 1)[0])
    while module.__name__ not in documented_modules():
        module = importlib.import_module(module.__name__.rsplit(".", 1)[0])
    names = docs_namespace.namespace()
    names |= {name: getattr(module, name) for name in getattr(module, "__all__", ())}
    names[module.__name__.rsplit(".", 1)[-1]] = module
    code = compile(source, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)

    async def run() -> None:
        names.update(docs_namespace.for_module(module.__name__))  # an asyncpg pool needs the loop
        if code.co_flags & inspect.CO_COROUTINE:
            await eval(code, names)
        else:
            exec(code, names)

    anyio.run(run, backend="asyncio")
