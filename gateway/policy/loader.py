"""Read a policy directory: the YAML documents (with line numbers for messages) and its version.

The version is a content hash: SHA-256 over every file's relative path and bytes, in sorted
order, so two directories with the same content have the same version wherever they live.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.policy.errors import PolicyProblem

# The files that make a policy pack; `rules/` and `tests/` hold any number of *.yaml files.
SINGLE_FILES = ("roles.yaml", "purposes.yaml", "categories.yaml", "invariants.yaml")
OPTIONAL_FILES = ("settings.yaml",)  # IG settings beside the rules (person_view ...); defaults when absent
MULTI_DIRS = ("rules", "tests")
# Cached expansions of the SNOMED CT expressions (ECL) matchers name: FHIR ValueSets, as data
# (gateway/policy/terminology.py); part of the content hash like every other file.
VALUESET_DIR = "valuesets"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Document:
    file: str  # relative path, e.g. "rules/direct_care.yaml"
    kind: str  # roles / purposes / categories / invariants / rules / tests
    data: Any
    node: yaml.Node | None

    def line(self, path: tuple[str | int, ...]) -> int | None:
        """1-based line of the element at ``path`` (or its nearest existing parent)."""
        node = self.node
        for key in path:
            if isinstance(node, yaml.MappingNode):
                nxt = next((v for k, v in node.value if k.value == key), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
                nxt = node.value[key]
            else:
                nxt = None
            if nxt is None:
                break
            node = nxt
        return node.start_mark.line + 1 if node is not None else None


@dataclass
class RawPolicy:
    directory: Path
    version: str
    documents: dict[str, list[Document]] = field(default_factory=dict)
    problems: list[PolicyProblem] = field(default_factory=list)

    def one(self, kind: str) -> Document | None:
        docs = self.documents.get(kind, [])
        return docs[0] if docs else None


def content_hash(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and not _ignored(p, directory)):
        rel = path.relative_to(directory).as_posix()
        digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return "sha256:" + digest.hexdigest()


def _ignored(path: Path, root: Path) -> bool:
    # Editor droppings and caches are not policy content.
    parts = path.relative_to(root).parts
    return any(p.startswith(".") or p == "__pycache__" for p in parts) or path.suffix in {".pyc", ".swp"}


def path_text(path: tuple[str | int, ...] | list[str | int]) -> str:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def read_directory(directory: Path) -> RawPolicy:
    directory = Path(directory)
    raw = RawPolicy(directory=directory, version="")
    if not directory.is_dir():
        raw.problems.append(PolicyProblem(str(directory), "", "policy directory does not exist"))
        return raw
    raw.version = content_hash(directory)
    for name in SINGLE_FILES:
        _read(raw, directory / name, name.removesuffix(".yaml"), required=True)
    for name in OPTIONAL_FILES:
        _read(raw, directory / name, name.removesuffix(".yaml"), required=False)
    for sub in MULTI_DIRS:
        files = sorted((directory / sub).glob("*.yaml")) + sorted((directory / sub).glob("*.yml"))
        if sub == "rules" and not files:
            raw.problems.append(PolicyProblem("rules/", "", "no rule files (rules/*.yaml)"))
        for path in files:
            _read(raw, path, sub, required=False)
    for path in sorted((directory / VALUESET_DIR).glob("*.json")):
        _read_json(raw, path, "valuesets")
    return raw


def _read_json(raw: RawPolicy, path: Path, kind: str) -> None:
    rel = path.relative_to(raw.directory).as_posix()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raw.problems.append(PolicyProblem(rel, "", f"not valid JSON: {getattr(exc, 'msg', exc)}", line))
        return
    raw.documents.setdefault(kind, []).append(Document(rel, kind, data, None))


def _read(raw: RawPolicy, path: Path, kind: str, required: bool) -> None:
    rel = path.relative_to(raw.directory).as_posix()
    if not path.is_file():
        if required:
            raw.problems.append(PolicyProblem(rel, "", "required file is missing"))
        return
    text = path.read_text(encoding="utf-8")
    loader = _LOADER(text)  # one parse gives both the data and the nodes (for line numbers)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raw.problems.append(PolicyProblem(rel, "", f"not valid YAML: {getattr(exc, 'problem', exc)}", line))
        return
    finally:
        loader.dispose()
    raw.documents.setdefault(kind, []).append(Document(rel, kind, data, node))
