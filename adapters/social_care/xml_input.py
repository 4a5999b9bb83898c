"""Reading an export safely: size-bounded, no DTDs, no entities, no external references."""
from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

import defusedxml
from defusedxml.ElementTree import fromstring

from adapters.base import AdapterError

ROOT = "CaseRecordExport"
DEFAULT_MAX_BYTES = 50 * 1024 * 1024  # far above a real per-person export; stops memory abuse


def load(raw: bytes, origin: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Element:
    if len(raw) > max_bytes:
        raise AdapterError(origin, f"export is {len(raw)} bytes; the limit is {max_bytes}")
    if not raw.strip():
        raise AdapterError(origin, "empty input: no XML")
    try:
        root = fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden:
        raise AdapterError(origin, "a DTD (<!DOCTYPE>) is not allowed in an export") from None
    except defusedxml.EntitiesForbidden as exc:
        raise AdapterError(origin, f"entity declaration {exc.name!r} is not allowed "
                           "(entity expansion / XML bomb protection)") from None
    except defusedxml.ExternalReferenceForbidden as exc:
        raise AdapterError(origin, f"external reference {exc.sysid!r} is not allowed") from None
    except defusedxml.DefusedXmlException as exc:
        raise AdapterError(origin, f"unsafe XML rejected: {exc}") from None
    except ParseError as exc:
        line, column = exc.position
        raise AdapterError(f"{origin}:line {line}, column {column}", f"not well-formed XML: {exc.msg}") from None
    except (ValueError, LookupError) as exc:  # e.g. an unknown encoding declaration
        raise AdapterError(origin, f"not readable XML: {exc}") from None
    if local_name(root.tag) != ROOT:
        raise AdapterError(f"/{local_name(root.tag)}", f"root element is not <{ROOT}>")
    return root


def local_name(tag: object) -> str:
    """Tag without a namespace ('{urn:x}Alert' -> 'Alert'); comments/PIs have no name."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def children(elem: Element) -> list[tuple[str, Element]]:
    return [(local_name(c.tag), c) for c in elem if local_name(c.tag)]


def text(elem: Element | None) -> str | None:
    if elem is None:
        return None
    value = "".join(elem.itertext()).strip()
    return value or None
