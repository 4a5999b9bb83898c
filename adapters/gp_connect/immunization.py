"""Immunization: the resource that changed most between STU3 and R4.

STU3 ``date`` -> ``occurrenceDateTime``; ``notGiven=true`` -> ``status=not-done``;
``practitioner{role, actor}`` -> ``performer{function, actor}``; ``explanation.reason`` ->
``reasonCode`` and ``explanation.reasonNotGiven`` -> ``statusReason``; ``vaccinationProtocol`` ->
``protocolApplied``; the GP Connect DateRecorded extension -> R4's own ``recorded``.
"""
from __future__ import annotations

from typing import Any

from adapters.gp_connect.common import each_object, rename
from adapters.gp_connect.fields import MappingError, expect, keep_unmapped, objects, take
from adapters.gp_connect.terminology import careconnect_extension_name

# vaccinationProtocol elements R4 protocolApplied has; the others (description, doseStatus,
# doseStatusReason) are kept unmapped.
_PROTOCOL_RENAMES = {"doseSequence": "doseNumberPositiveInt", "seriesDoses": "seriesDosesPositiveInt",
                     "series": "series", "authority": "authority", "targetDisease": "targetDisease"}


def map_immunization(resource: dict[str, Any]) -> dict[str, Any]:
    _date_to_occurrence(resource)
    _not_given_to_status(resource)
    for _path, performer in each_object(resource, "practitioner"):
        rename(performer, "role", "function")
    rename(resource, "practitioner", "performer")
    _explanation(resource)
    _protocols(resource)
    _date_recorded(resource)
    return resource


def _date_to_occurrence(resource: dict[str, Any]) -> None:
    date = take(resource, "date", str)
    if date is None:
        # R4 makes occurrence mandatory; inventing a date would be worse than quarantining.
        raise MappingError("date", "missing: R4 Immunization.occurrence[x] is required")
    resource["occurrenceDateTime"] = date


def _not_given_to_status(resource: dict[str, Any]) -> None:
    not_given = take(resource, "notGiven", bool)
    if not_given and resource.get("status") != "entered-in-error":
        resource["status"] = "not-done"
    elif not_given:
        keep_unmapped(resource, "notGiven", not_given)


def _explanation(resource: dict[str, Any]) -> None:
    explanation = take(resource, "explanation", dict)
    if explanation is None:
        return
    reasons = explanation.pop("reason", None)
    if reasons is not None:
        resource["reasonCode"] = objects(expect(reasons, list, "explanation.reason"), "explanation.reason")
    not_given = explanation.pop("reasonNotGiven", None)
    if not_given is not None:
        items = objects(expect(not_given, list, "explanation.reasonNotGiven"), "explanation.reasonNotGiven")
        if items:  # R4 statusReason holds one reason
            resource["statusReason"] = items[0]
        if len(items) > 1:
            keep_unmapped(resource, "explanation.reasonNotGiven[1:]", items[1:])
    if explanation:
        keep_unmapped(resource, "explanation", explanation)


def _protocols(resource: dict[str, Any]) -> None:
    applied = []
    for path, protocol in each_object(resource, "vaccinationProtocol"):
        item = {r4: protocol.pop(stu3) for stu3, r4 in _PROTOCOL_RENAMES.items() if stu3 in protocol}
        if "doseNumberPositiveInt" not in item:  # R4 requires the dose number
            keep_unmapped(resource, path, {**protocol, **item})
            continue
        applied.append(item)
        if protocol:
            keep_unmapped(resource, path, protocol)
    resource.pop("vaccinationProtocol", None)
    if applied:
        resource["protocolApplied"] = applied


def _date_recorded(resource: dict[str, Any]) -> None:
    """GP Connect said when the vaccination was recorded with an extension; R4 has ``recorded``."""
    extensions = resource.get("extension")
    if not isinstance(extensions, list):
        return
    for ext in list(extensions):
        if isinstance(ext, dict) and isinstance(ext.get("url"), str) \
                and careconnect_extension_name(ext["url"]) == "DateRecorded" \
                and isinstance(ext.get("valueDateTime"), str) and "recorded" not in resource:
            resource["recorded"] = ext["valueDateTime"]
            extensions.remove(ext)
    if not extensions:
        resource.pop("extension")
