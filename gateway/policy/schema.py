"""JSON-Schema validation of each policy document against the pack's published schema files.

The schemas live in ``<policy dir>/schema/`` so that editors can autocomplete; a pack without
them is checked against the shipped ones.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from jsonschema import Draft202012Validator, ValidationError

from gateway.policy.errors import PolicyProblem
from gateway.policy.loader import RawPolicy, path_text
from gateway.settings import shipped_policy_dir


@lru_cache(maxsize=32)
def _validator(schema_file: Path, mtime: float) -> Draft202012Validator:
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def validator_for(directory: Path, kind: str) -> Draft202012Validator:
    name = f"{kind}.schema.json"
    path = directory / "schema" / name
    if not path.is_file():
        path = shipped_policy_dir() / "schema" / name
    return _validator(path, path.stat().st_mtime)


def validate(raw: RawPolicy) -> list[PolicyProblem]:
    problems: list[PolicyProblem] = []
    for kind, docs in raw.documents.items():
        validator = validator_for(raw.directory, kind)
        for doc in docs:
            data = doc.data if doc.data is not None else {}
            for err in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
                path = tuple(err.absolute_path)
                problems.append(PolicyProblem(doc.file, path_text(path), _message(err), doc.line(path)))
    return problems


def _message(err: ValidationError) -> str:
    # Prefer the most specific sub-error for oneOf/anyOf so the IG reader sees the real cause.
    if err.context:
        best = min(err.context, key=lambda e: len(list(e.absolute_path)) * -1)
        return best.message
    return err.message
