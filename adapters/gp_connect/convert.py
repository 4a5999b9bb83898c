"""One STU3 entry -> one R4 resource: the steps every resource shares around the type's mapper.

In order: every reference pointed at the gateway ids (one walk, together with the code-system
and extension-URL renames — done first, so that content the mapper keeps as "unmapped" already
names gateway ids); the type's mapper (what R4 renamed or restructured); contained resources
mapped the same way; STU3 profile claims kept as content; every element reshaped to the R4
cardinalities, and any element R4 lacks kept as unmapped content, by
:func:`adapters.gp_connect.cardinality.conform`; the gateway id. A
``MappingError`` from any step names the element that could not be mapped.
"""
from __future__ import annotations

from typing import Any

import orjson

from adapters.gp_connect.cardinality import conform, resource_model
from adapters.gp_connect.fields import MappingError, keep_unmapped
from adapters.gp_connect.index import BundleIndex, IndexedEntry
from adapters.gp_connect.registry import mapper_for
from adapters.gp_connect.terminology import rename_code_system, rename_extension_urls
from adapters.gp_connect.walk import visit_objects


def convert_entry(entry: IndexedEntry, index: BundleIndex) -> tuple[dict[str, Any], list[str]]:
    """The R4 resource for ``entry`` and the references that point outside the Bundle."""
    resource = orjson.loads(orjson.dumps(entry.resource))  # a private copy: the index keeps the original
    unresolved = rewrite_generic(resource, index)
    resource = _to_r4(resource, entry.stu3_type)
    resource["id"] = entry.gateway_id
    return resource, unresolved


def _to_r4(resource: dict[str, Any], stu3_type: str, path: str = "") -> dict[str, Any]:
    resource = mapper_for(stu3_type)(resource)
    _contained(resource, path)
    _profiles(resource)
    _conform(resource)
    return resource


def _contained(resource: dict[str, Any], path: str) -> None:
    """Contained resources are STU3 too; they keep their local ids (``#id`` references)."""
    contained = resource.get("contained")
    if contained is None:
        return
    if not isinstance(contained, list):
        raise MappingError(f"{path}contained", "expected an array of resources")
    for i, item in enumerate(contained):
        where = f"{path}contained[{i}]"
        kind = item.get("resourceType") if isinstance(item, dict) else None
        if not isinstance(kind, str):
            raise MappingError(where, "contained resource without a resourceType")
        try:
            contained[i] = _to_r4(item, kind, f"{where}.")
        except MappingError as exc:
            raise MappingError(f"{where}.{exc.path}", exc.reason) from None


def _profiles(resource: dict[str, Any]) -> None:
    """STU3 profile claims are not true of the R4 resource: kept as content, not as claims."""
    meta = resource.get("meta")
    if isinstance(meta, dict) and "profile" in meta:
        keep_unmapped(resource, "meta.profile", meta.pop("profile"))
        if not meta:
            resource.pop("meta")


def _conform(resource: dict[str, Any]) -> None:
    model = resource_model(resource["resourceType"])
    if model is None:
        raise MappingError("resourceType", f"{resource['resourceType']!r} has no R4 equivalent")
    conform(resource, model)


def rewrite_generic(resource: dict[str, Any], index: BundleIndex) -> list[str]:
    """Rewrite references to gateway ids, and rename code systems and extension URLs, in one walk.

    In-Bundle references (``Type/id``, ``urn:uuid:…`` or other fullUrls) become ``R4Type/gateway-id``.
    References to resources the Bundle does not hold are left as sent and returned, so the
    pipeline can report them; local ``#id`` references to contained resources are untouched.
    """
    unresolved: list[str] = []

    def rewrite_reference(obj: dict[str, Any]) -> None:
        ref = obj.get("reference")
        if not isinstance(ref, str) or ref.startswith("#"):
            return
        found = index.resolve(ref)
        if found is None:
            unresolved.append(ref)
        else:
            obj["reference"] = found.r4_reference

    visit_objects(resource, (rewrite_reference, rename_code_system, rename_extension_urls))
    return unresolved
