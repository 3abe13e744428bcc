"""What the package says about itself: its version, and where its JSON Schema lives."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from importlib import metadata, resources
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_version_is_the_installed_distributions_and_pyprojects() -> None:
    import healthkit

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    assert project["version"] == metadata.version("healthkit-asgi") == healthkit.__version__
    assert "__version__" in dir(healthkit)
    assert "__version__" not in healthkit.__all__


def test_version_loads_no_dependency() -> None:
    code = (
        "import sys, healthkit; healthkit.__version__;"
        "print(sorted(set(sys.modules) & {'starlette', 'anyio', 'orjson'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT, check=False
    )

    assert "[]\n" == done.stdout, done.stderr


def test_the_schemas_id_is_where_the_documentation_site_publishes_it() -> None:
    """docs/hooks.py copies the schema to the path of its $id below mkdocs.yml's site_url."""
    schema = json.loads((resources.files("healthkit") / "health.schema.json").read_text())
    site_url = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["site_url"]

    assert schema["$id"].startswith(site_url)
    assert schema["$id"].endswith("/health.schema.json")
