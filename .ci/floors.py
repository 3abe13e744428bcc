"""The dependency floors declared in pyproject.toml, as pins, and a check that an environment has them.

    python .ci/floors.py constraints [--core]   pip constraints: each direct dependency == its floor
    python .ci/floors.py check [--core]         table of floors and installed versions; exit 1 unless equal
    python .ci/floors.py show                   the same table, for any environment (never fails)
    python .ci/floors.py extras                 every extra's name, comma-separated: pip install '.[NAMES]'

Without --core: [project] dependencies, every extra and the dependency group `test`, as the Makefile
installs them (`pip install -e '.[every extra]' --group test`). With --core: [project] dependencies only
(a plain `pip install .`). A package named twice (anyio in the dependencies and in the test group) takes
its highest floor, the lowest version that install allows.
Every requirement must have a `>=` floor; anything this script cannot read for sure stops it.
"""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"

# name, optional [extras], then comma-separated version clauses; no markers, no URLs.
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*?)\s*$")
CLAUSE = re.compile(r"^(==|>=|<=|!=|~=|<|>)\s*([0-9][0-9A-Za-z.+!-]*)$")
RELEASE = re.compile(r"^(\d+(?:\.\d+)*)(.*)$")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def release(version: str) -> tuple[tuple[int, ...], str]:
    """(numbers without trailing zeros, the rest): "0.40" and "0.40.0" compare equal."""
    match = RELEASE.match(version)
    if match is None:
        sys.exit(f"floors.py: cannot read the version {version!r}")
    numbers = [int(part) for part in match.group(1).split(".")]
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers), match.group(2)


def floor_of(requirement: str) -> tuple[str, str | None]:
    """(normalized name, floor) of one requirement string; floor None for a bare name (no version)."""
    if ";" in requirement or "@" in requirement:
        sys.exit(f"floors.py: markers and URLs are not read here: {requirement!r}")
    match = REQUIREMENT.match(requirement)
    if match is None:
        sys.exit(f"floors.py: cannot read the requirement {requirement!r}")
    name, specifier = normalize(match.group(1)), match.group(2)
    if not specifier:
        return name, None
    floors = []
    for clause in specifier.split(","):
        parsed = CLAUSE.match(clause.strip())
        if parsed is None:
            sys.exit(f"floors.py: cannot read {clause.strip()!r} in {requirement!r}")
        if parsed.group(1) == ">=":
            floors.append(parsed.group(2))
    if len(floors) != 1 or release(floors[0])[1]:
        sys.exit(f"floors.py: {requirement!r} needs exactly one plain '>=' floor to be pinned")
    return name, floors[0]


# The dependency groups (PEP 735) the lowest environment installs beside the extras.
GROUPS = ("test",)


def group(groups: dict[str, list[str | dict[str, str]]], name: str) -> list[str]:
    """A dependency group's requirements, with the groups it includes ({include-group = "..."})."""
    requirements: list[str] = []
    for item in groups[name]:
        if isinstance(item, str):
            requirements.append(item)
        elif set(item) == {"include-group"}:
            requirements.extend(group(groups, item["include-group"]))
        else:
            sys.exit(f"floors.py: cannot read {item!r} in the dependency group {name!r}")
    return requirements


def read_floors(core: bool) -> tuple[dict[str, str], str]:
    """{normalized name: floor} and the floor of requires-python."""
    pyproject = tomllib.loads(PYPROJECT.read_text())
    project = pyproject["project"]
    requirements = list(project["dependencies"])
    if not core:
        for extra in project.get("optional-dependencies", {}).values():
            requirements.extend(extra)
        for name in GROUPS:
            requirements.extend(group(pyproject.get("dependency-groups", {}), name))
    floors: dict[str, str] = {}
    for requirement in requirements:
        name, floor = floor_of(requirement)
        if floor is None:
            if name == normalize(project["name"]):
                continue  # the project's own extras, e.g. healthkit-asgi[http,...]
            sys.exit(f"floors.py: {requirement!r} has no floor")
        if name not in floors or release(floor) > release(floors[name]):
            floors[name] = floor
    python = re.fullmatch(r"\s*>=\s*(\d+\.\d+)\s*", project["requires-python"])
    if python is None:
        sys.exit(f"floors.py: cannot read requires-python {project['requires-python']!r}")
    return floors, python.group(1)


def installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def table(floors: dict[str, str], python: str, mark: bool) -> list[str]:
    """Print floor and installed version of each package (marking the ones that differ); return those."""
    running = "{}.{}".format(*sys.version_info[:2])
    rows = [("python", python, f"{running}.{sys.version_info[2]}", release(running) == release(python))]
    for name, floor in sorted(floors.items()):
        version = installed(name)
        same = version is not None and release(version) == release(floor)
        rows.append((name, floor, version or "(not installed)", same))
    width = max(len(row[0]) for row in rows)
    print(f"{'package':<{width}}  {'floor':<10}  installed")
    for name, floor, version, same in rows:
        print(f"{name:<{width}}  {floor:<10}  {version}{'' if same or not mark else '   <- not the floor'}")
    return [row[0] for row in rows if not row[3]]


def main(argv: list[str]) -> int:
    if argv == ["extras"]:
        print(",".join(tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]))
        return 0
    if not argv or argv[0] not in {"constraints", "check", "show"} or set(argv[1:]) - {"--core"}:
        sys.exit(__doc__)
    floors, python = read_floors(core="--core" in argv)
    if argv[0] == "constraints":
        for name, floor in sorted(floors.items()):
            print(f"{name}=={floor}")
        return 0
    differing = table(floors, python, mark=argv[0] == "check")
    if argv[0] == "check" and differing:
        print(f"floors.py: not at the declared floor: {', '.join(differing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
