"""The CPython interpreters on this machine for the versions pyproject.toml claims.

    python .ci/pythons.py [--above-lowest]   one line per claimed version: VERSION PATH, or VERSION -

The claimed versions are the "Programming Language :: Python :: 3.N" classifiers. An interpreter is
looked for as `python3.N` on PATH, then in pyenv's versions (`pyenv root`, else ~/.pyenv): the newest
patch release there. Each candidate is run once to make sure it is that version of CPython (a pyenv
shim for a version that is not selected fails, and is passed over). --above-lowest leaves out the
lowest claimed version, which `make test` and `make test-lowest` already run.

A version with no interpreter prints `-` as its path. Exit status: 0, unless CI=true and a claimed
version has no interpreter, so CI cannot pass while skipping a version the metadata promises.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
CLASSIFIER = re.compile(r"^Programming Language :: Python :: 3\.(\d+)$")


def claimed() -> list[str]:
    classifiers = tomllib.loads(PYPROJECT.read_text())["project"]["classifiers"]
    minors = sorted(int(match.group(1)) for c in classifiers if (match := CLASSIFIER.match(c)))
    if not minors:
        sys.exit("pythons.py: pyproject.toml claims no 'Programming Language :: Python :: 3.N' version")
    return [f"3.{minor}" for minor in minors]


def pyenv_root() -> Path:
    pyenv = shutil.which("pyenv")
    if pyenv is not None:
        done = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode == 0 and done.stdout.strip():
            return Path(done.stdout.strip())
    return Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))


def patch(path: Path) -> tuple[int, ...]:
    """3.12.10 sorts above 3.12.9; names that are not plain releases (3.13.0t, 3.14-dev) sort first."""
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", path.name)
    return tuple(int(part) for part in match.groups()) if match else ()


def candidates(version: str) -> list[str]:
    found = []
    on_path = shutil.which(f"python{version}")
    if on_path is not None:
        found.append(on_path)
    versions = pyenv_root() / "versions"
    if versions.is_dir():
        releases = sorted(versions.glob(f"{version}.*"), key=patch, reverse=True)
        found += [str(release / "bin" / f"python{version}") for release in releases if patch(release)]
    return found


def is_cpython(executable: str, version: str) -> bool:
    code = "import sys; print(sys.implementation.name, '%d.%d' % sys.version_info[:2])"
    try:
        done = subprocess.run(  # noqa: S603  (interpreters this machine has)
            [executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return False
    return done.returncode == 0 and done.stdout.split() == ["cpython", version]


def main(argv: list[str]) -> int:
    if set(argv) - {"--above-lowest"}:
        sys.exit(__doc__)
    versions = claimed()
    if "--above-lowest" in argv:
        versions = versions[1:]
    missing = []
    for version in versions:
        executable = next((c for c in candidates(version) if is_cpython(c, version)), None)
        if executable is None:
            missing.append(version)
        print(version, executable or "-")
    if missing and os.environ.get("CI") == "true":
        print(
            f"pythons.py: no interpreter for Python {', '.join(missing)}, which pyproject.toml claims",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
