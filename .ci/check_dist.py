"""What the built wheel and sdist must hold, beyond what `twine check --strict` reads.

    python .ci/check_dist.py DIST_DIR      (after `python -m build --outdir DIST_DIR`)

The wheel: both import packages with py.typed, the JSON Schema (with its `$id`), the licence, and
metadata that agrees with pyproject.toml (name, version, SPDX licence, Python versions, every extra
and no development tool in any of them, the project URLs), and the README as its description with
absolute links only. The sdist: the sources with what tests
and documents them (LICENSE, CHANGELOG.md, README.md, docs/, mkdocs.yml, tests/), and no virtual
environment or build output. Prints what it checked; exits 1 naming every problem.
"""

from __future__ import annotations

import json
import re
import sys
import tarfile
import tomllib
import zipfile
from email.parser import HeaderParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Development tools: none may be in a published extra (they live in dependency groups).
TOOLS = {"ruff", "mypy", "pytest", "hypothesis", "selenium", "mkdocs", "build", "twine", "coverage"}
WHEEL_FILES = [
    "healthkit/__init__.py",
    "healthkit/py.typed",
    "healthkit/health.schema.json",
    "healthkit_checks/__init__.py",
    "healthkit_checks/py.typed",
]
SDIST_FILES = [
    "LICENSE",
    "CHANGELOG.md",
    "README.md",
    "pyproject.toml",
    "mkdocs.yml",
    "docs/index.md",
    "docs/architecture.md",
    "healthkit/health.schema.json",
    "checks/healthkit_checks/__init__.py",
    "tests/conftest.py",
    "examples/demo.py",
]
SDIST_NEVER = re.compile(r"(^|/)(\.venv[^/]*|site|dist|__pycache__|\.mypy_cache|\.ruff_cache)(/|$)")


def name_of(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else requirement


def check_wheel(path: Path, project: dict, problems: list[str]) -> None:
    with zipfile.ZipFile(path) as wheel:
        names = set(wheel.namelist())
        problems += [f"{path.name}: no {file}" for file in WHEEL_FILES if file not in names]
        problems += [f"{path.name}: holds {n}" for n in names if n.startswith(("tests/", "examples/"))]
        info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
        if not any(n.startswith(f"{info}/licenses/LICENSE") or n == f"{info}/LICENSE" for n in names):
            problems.append(f"{path.name}: no LICENSE in {info}")
        metadata = HeaderParser().parsestr(wheel.read(f"{info}/METADATA").decode())
        schema = json.loads(wheel.read("healthkit/health.schema.json"))
    if not str(schema.get("$id", "")).startswith("https://"):
        problems.append(f"{path.name}: health.schema.json has no https $id")
    expected = {
        "Name": project["name"],
        "Version": project["version"],
        "License-Expression": project["license"],
        "Requires-Python": project["requires-python"],
    }
    for field, value in expected.items():
        if metadata[field] != value:
            problems.append(f"{path.name}: {field} is {metadata[field]!r}, pyproject.toml says {value!r}")
    classifiers = set(metadata.get_all("Classifier") or [])
    problems += [f"{path.name}: no classifier {c!r}" for c in project["classifiers"] if c not in classifiers]
    extras = set(metadata.get_all("Provides-Extra") or [])
    if extras != set(project["optional-dependencies"]):
        declared = sorted(project["optional-dependencies"])
        problems.append(f"{path.name}: extras {sorted(extras)}, pyproject.toml has {declared}")
    for requirement in metadata.get_all("Requires-Dist") or []:
        if name_of(requirement) in TOOLS:
            problems.append(f"{path.name}: a development tool is published: {requirement!r}")
    description = metadata.get_payload()
    if "## Quickstart" not in description:
        problems.append(f"{path.name}: the description is not README.md")
    relative = re.findall(r"\]\((?!https?://|#)[^)]*\)", description)
    if relative:
        problems.append(
            f"{path.name}: relative links in the description (PyPI cannot follow them): {relative}"
        )
    urls = {url.split(",")[0] for url in metadata.get_all("Project-URL") or []}
    problems += [f"{path.name}: no Project-URL {label!r}" for label in project["urls"] if label not in urls]
    described = f"{metadata['Name']} {metadata['Version']}, extras {', '.join(sorted(extras))}"
    print(f"{path.name}: {len(names)} files; {described}")


def check_sdist(path: Path, problems: list[str]) -> None:
    with tarfile.open(path) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    problems += [f"{path.name}: no {file}" for file in SDIST_FILES if file not in names]
    problems += [f"{path.name}: holds {name}" for name in sorted(names) if SDIST_NEVER.search(name)]
    print(f"{path.name}: {len(names)} files")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.exit(__doc__)
    dist = Path(argv[0])
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    problems: list[str] = []
    if len(wheels) != 1 or len(sdists) != 1:
        problems.append(
            f"{dist}: expected one wheel and one sdist, found {[p.name for p in [*wheels, *sdists]]}"
        )
    for wheel in wheels:
        check_wheel(wheel, project, problems)
    for sdist in sdists:
        check_sdist(sdist, problems)
    for problem in problems:
        print(f"check_dist.py: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
