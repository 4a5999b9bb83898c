"""Raw bytes -> the STU3 Bundle as a plain dict, or an AdapterError saying exactly why not.

JSON is read with orjson (strict UTF-8, no NaN) and not validated against STU3: real senders
vary and the mapping copes with what it finds. XML has no generic JSON shape without the FHIR
model (which elements repeat), so it goes through the fhir.resources STU3 models — strict,
therefore — after defusedxml has refused DTDs and entity tricks.
"""
from __future__ import annotations

from typing import Any

import defusedxml.ElementTree as safe_et
import orjson
from defusedxml import DefusedXmlException
from lxml import etree
from pydantic import ValidationError

from adapters.base import AdapterError
from adapters.gp_connect.walk import depth

MAX_BYTES = 64 * 1024 * 1024  # a whole GP record is a few MB; far beyond this is not a record
MAX_DEPTH = 64  # real bundles nest < 15 levels; deeper is hostile or broken
_XML_NS = "{http://hl7.org/fhir}"


def decode_bundle(raw: bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """Parse ``raw`` (JSON or XML STU3) into a dict and check it is a collection Bundle."""
    if len(raw) > max_bytes:
        raise AdapterError("/", f"input is {len(raw)} bytes, more than the {max_bytes}-byte limit")
    text_start = _first_significant_byte(raw)
    if text_start == b"{":
        body = _decode_json(raw)
    elif text_start == b"<":
        body = _decode_xml(raw)
    elif not text_start:
        raise AdapterError("/", "input is empty")
    else:
        raise AdapterError("/", f"neither JSON nor XML: starts with byte {raw.lstrip()[:1]!r} "
                                "(UTF-16/32 or binary input is not accepted; send UTF-8)")
    nesting = depth(body)
    if nesting > max_depth:
        raise AdapterError("/", f"JSON nested {nesting} levels deep, more than the limit of {max_depth}")
    check_bundle(body)
    return body


def _first_significant_byte(raw: bytes) -> bytes:
    return raw.removeprefix(b"\xef\xbb\xbf").lstrip()[:1]


def _decode_json(raw: bytes) -> dict[str, Any]:
    try:
        # orjson refuses nesting beyond 1024 on its own; the tighter limit is checked afterwards.
        return orjson.loads(raw.removeprefix(b"\xef\xbb\xbf"))
    except orjson.JSONDecodeError as exc:
        raise AdapterError(f"line {exc.lineno} column {exc.colno}", f"not valid JSON: {exc.msg}") from None


def _decode_xml(raw: bytes) -> dict[str, Any]:
    try:
        root = safe_et.fromstring(raw, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise AdapterError("/", f"XML refused: {exc}") from None
    except safe_et.ParseError as exc:
        line, column = exc.position
        raise AdapterError(f"line {line} column {column}", f"not well-formed XML: {exc}") from None
    if root.tag != f"{_XML_NS}Bundle":
        raise AdapterError("/", f"XML root is {root.tag!r}, expected a FHIR Bundle in namespace http://hl7.org/fhir")
    return _stu3_xml_to_dict(raw)


def _stu3_xml_to_dict(raw: bytes) -> dict[str, Any]:
    # Lazy on purpose: the STU3 models take about 0.2 s to import and only XML exports need them.
    from fhir.resources.STU3.bundle import Bundle

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        bundle = Bundle.model_validate_xml(raw, xmlparser=parser)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "/"
        raise AdapterError(where, f"XML is not a valid STU3 Bundle: {first['msg']}") from None
    except (etree.XMLSyntaxError, ValueError, TypeError, KeyError) as exc:
        raise AdapterError("/", f"XML is not a readable STU3 Bundle: {exc}") from None
    return orjson.loads(bundle.model_dump_json(exclude_none=True))


def check_bundle(body: Any) -> None:
    """The shape every later step relies on: an object, a Bundle, a collection, entries an array."""
    if not isinstance(body, dict):
        raise AdapterError("/", f"expected a JSON object (a FHIR Bundle), got a JSON {type(body).__name__}")
    if body.get("resourceType") != "Bundle":
        raise AdapterError("resourceType", f"expected 'Bundle', got {body.get('resourceType')!r}")
    kind = body.get("type")
    if kind not in (None, "collection", "searchset"):
        raise AdapterError("type", f"expected a 'collection' Bundle (GP Connect structured record), got {kind!r}")
    entries = body.get("entry")
    if entries is not None and not isinstance(entries, list):
        raise AdapterError("entry", "expected an array of entries")
