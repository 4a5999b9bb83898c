"""An independent R4 validator for the suite: ``tests/node/validate_r4.mjs`` (@medplum/core's
``validateResource`` over the official R4 StructureDefinitions), plus the R4 JSON rule that no array
or object is empty, which that validator does not check.

The ``client`` fixture (tests/conftest.py) sends every FHIR JSON response an API test receives
through :func:`problems`; a test fails when one is not valid R4. Without node or the packages
(``scripts/test`` installs them into tests/node) validation is off and
tests/api/test_r4_validation.py says so by skipping.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

NODE_DIR = Path(__file__).parent / "node"
SCRIPT = NODE_DIR / "validate_r4.mjs"


class Validator:
    def __init__(self) -> None:
        self._process = subprocess.Popen(["node", str(SCRIPT)], cwd=NODE_DIR, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True, bufsize=1)
        self._lock = threading.Lock()

    def issues(self, resource: dict[str, Any]) -> list[str]:
        assert self._process.stdin is not None and self._process.stdout is not None
        with self._lock:
            self._process.stdin.write(json.dumps(resource) + "\n")
            self._process.stdin.flush()
            line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the R4 validator (node) stopped")
        answer = json.loads(line)
        return [] if answer["ok"] else list(answer["issues"])

    def close(self) -> None:
        if self._process.stdin:
            self._process.stdin.close()
        self._process.wait(timeout=10)


_validator: Validator | None = None
_unavailable: str | None = None


def available() -> str | None:
    """None when the validator can run, else why not."""
    if shutil.which("node") is None:
        return "node is not installed"
    version = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    major, _, rest = version.lstrip("v").partition(".")
    minor = rest.partition(".")[0]
    if not (major.isdigit() and minor.isdigit()) or (int(major), int(minor)) < (20, 19):
        return f"node {version or '?'} is older than the 20.19 @medplum/core 4.5 needs"
    if not (NODE_DIR / "node_modules" / "@medplum" / "core").is_dir():
        return "tests/node/node_modules lacks @medplum/core (scripts/test installs it)"
    return None


def validator() -> Validator | None:
    global _validator, _unavailable
    if _validator is None and _unavailable is None:
        _unavailable = available()
        if _unavailable is None:
            _validator = Validator()
    return _validator


def empty_containers(value: Any, path: str = "$") -> list[str]:
    """Where a JSON value holds an empty array or object (the R4 JSON format forbids both)."""
    if isinstance(value, list):
        return [path] if not value else [p for i, v in enumerate(value) for p in empty_containers(v, f"{path}[{i}]")]
    if isinstance(value, dict):
        return [path] if not value else [p for k, v in value.items() for p in empty_containers(v, f"{path}.{k}")]
    return []


def problems(body: Any) -> list[str]:
    """Why a response body is not valid R4 JSON (empty: it is, or validation is off)."""
    found = [f"{p}: empty array or object" for p in empty_containers(body)]
    checker = validator()
    if checker is not None and isinstance(body, dict) and "resourceType" in body:
        found += checker.issues(body)
    return found
