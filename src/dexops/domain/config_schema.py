"""The JSON Schema of `[tool.dexops]`, generated from the keys `config_keys` declares."""

from __future__ import annotations

import json
from typing import Any

from dexops.domain.config_keys import NAME_PATTERN, ROOT, Key, Rule, Table

SCHEMA_ID = "https://dexops.invalid/schemas/tool-dexops.schema.json"
# Where the generated copy ships, relative to the dexops package, for editors and taplo.
SCHEMA_FILE = "schemas/tool-dexops.schema.json"


def config_schema() -> dict[str, Any]:
    """The draft-07 schema of the `[tool.dexops]` table."""
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        "title": "[tool.dexops]",
        "description": "dexops: release-and-deploy automation (see the configuration reference).",
        **_table(ROOT),
    }


def tool_schema(tool: str) -> dict[str, Any]:
    """The `[tool.dexops]` table: dexops' release, image and deploy configuration."""
    del tool  # one plugin, one table: the entry point's name is `dexops`
    return config_schema()


def _table(table: Table) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {key.name: _key(key) for key in table.keys},
    }
    required = [key.name for key in table.keys if key.required]
    if required:
        schema["required"] = required
    if table.required_when:
        schema["allOf"] = [
            {
                "if": {"properties": {name: {"const": equals}}, "required": [name]},
                "then": {"required": [needed]},
            }
            for name, equals, needed in table.required_when
        ]
    return schema


def _key(key: Key) -> dict[str, Any]:
    described = {"description": key.description}
    if key.type == "string":
        return {**described, **_string(key)}
    if key.type == "strings":
        return {**described, "type": "array", "items": _string(key)}
    if key.type == "boolean":
        return {**described, "type": "boolean"}
    if key.type == "string-table":
        return {**described, "type": "object", "additionalProperties": {"type": "string"}}
    assert key.table is not None  # noqa: S101 - every "tables" key declares its table
    schema: dict[str, Any] = {
        **described,
        "type": "object",
        "propertyNames": {"pattern": NAME_PATTERN},
        "additionalProperties": _table(key.table),
    }
    if key.min_entries:
        schema["minProperties"] = key.min_entries
    return schema


def _string(key: Key) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "minLength": 1}
    if key.choices:
        schema["enum"] = list(key.choices)
    if len(key.rules) == 1:
        schema["pattern"] = key.rules[0].pattern
    elif key.rules:
        schema["allOf"] = [_pattern(rule) for rule in key.rules]
    return schema


def _pattern(rule: Rule) -> dict[str, str]:
    return {"pattern": rule.pattern}


def render_schema() -> str:
    """The schema as the text of the shipped file."""
    return json.dumps(config_schema(), indent=2) + "\n"


if __name__ == "__main__":
    # Regenerates the shipped copy: python -m dexops.domain.config_schema > src/dexops/<FILE>
    import sys

    sys.stdout.write(render_schema())
