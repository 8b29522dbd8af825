"""Every results.json a test reads is first validated against the shipped JSON Schema."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "docs" / "results.schema.json"


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate(data: Any) -> dict[str, Any]:
    """The data, once it is known to follow docs/results.schema.json (else the first error raises)."""
    _validator().validate(data)
    assert isinstance(data, dict)
    return data


def read_results(path: Path) -> dict[str, Any]:
    """A results.json file (or a run directory holding one), validated."""
    path = path / "results.json" if path.is_dir() else path
    return validate(json.loads(path.read_text(encoding="utf-8")))
