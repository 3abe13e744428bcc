"""MkDocs hooks (mkdocs.yml `hooks:`): the JSON Schema is published at the address of its `$id`.

healthkit/health.schema.json is the one copy; the site serves it at the path its `$id` names below
mkdocs.yml's site_url, and the build fails if the `$id` does not start with site_url.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA = Path(__file__).resolve().parent.parent / "healthkit" / "health.schema.json"


def on_post_build(config: Any) -> None:
    schema_id = json.loads(SCHEMA.read_text())["$id"]
    site_url = config["site_url"]
    if not schema_id.startswith(site_url):
        msg = f"health.schema.json: $id {schema_id!r} is not under site_url {site_url!r}"
        raise ValueError(msg)
    target = Path(config["site_dir"]) / schema_id.removeprefix(site_url)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(SCHEMA.read_bytes())
