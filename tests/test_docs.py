"""The documentation in docs/ stays true: every source-format example maps, every link resolves."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from adapters.base import Rejected
from gateway.ingest.registry import load_adapters
from gateway.ingest.validate import problem

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLE = re.compile(r"<!-- example: (?P<format>[\w-]+) -->\n```[\w-]*\n(?P<body>.*?)```", re.DOTALL)


def _examples() -> list[tuple[str, bytes]]:
    found = [(m["format"], m["body"].encode()) for m in EXAMPLE.finditer((DOCS / "formats.md").read_text())]
    # HL7 v2 segments end with a carriage return; the page shows one segment per line.
    return [(fmt, body.replace(b"\n", b"\r") if fmt == "hl7v2" else body) for fmt, body in found]


def test_formats_page_has_an_example_for_every_format() -> None:
    assert {fmt for fmt, _ in _examples()} == set(load_adapters())


@pytest.mark.parametrize(("format", "raw"), _examples(), ids=lambda v: v if isinstance(v, str) else "")
def test_format_example_maps_without_rejections_to_valid_r4(format: str, raw: bytes) -> None:
    adapter = load_adapters()[format]
    records = []
    for message in adapter.parse(raw, "docs/formats.md"):
        assert not isinstance(message, Rejected), message
        for item in adapter.map(message):
            assert not isinstance(item, Rejected), item
            records.append(item)
    assert records
    assert [problem(r.resource) for r in records] == [None] * len(records)


LINK = re.compile(r"\]\((?P<target>[^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("page", [ROOT / "README.md", *sorted(DOCS.glob("*.md"))], ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    missing = [m["target"] for m in LINK.finditer(page.read_text())
               if "://" not in m["target"] and not (page.parent / m["target"]).exists()]
    assert not missing, f"{page.relative_to(ROOT)} links to missing files: {missing}"
