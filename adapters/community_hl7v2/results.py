"""ORU^R01: the visit (PV1 + OBR) -> Encounter, each OBX per the local-code table of docs/formats.md
(HL7 v2), and every other OBR (a test) -> DiagnosticReport over its OBX Observations.

An OBX result is identified by (visit, OBX-3 item, OBX-4 sub-id) — under a test, (visit + test,
item, sub-id) — so a later message with OBX-11 ``C`` lands on the same resource and ``D`` marks it
entered-in-error.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adapters.base import Json, MappedRecord
from adapters.community_hl7v2.context import Context, coded
from adapters.community_hl7v2.fields import FieldError, Seg
from adapters.conventions import EXT_UNMAPPED, ITEM_ACCESS, ITEM_KEYSAFE, ITEM_VISIT
from adapters.fhir_helpers import (
    HOME_VISIT_CLASS,
    access_flag,
    capacity_assessment,
    compact,
    dnacpr_code,
    ext_string,
    extensions,
    local_id_system,
    local_item,
    observation,
    period,
    ref,
    risk_flag,
)

_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
# HL7 table 0123 (OBR-25 result status) -> DiagnosticReport.status
_REPORT_STATUS = {"": "unknown", "O": "registered", "I": "registered", "S": "registered", "A": "partial",
                  "P": "preliminary", "R": "preliminary", "C": "corrected", "F": "final", "X": "cancelled"}
_OBS_STATUS = {"": "final", "F": "final", "C": "corrected", "A": "amended", "U": "final",
               "D": "entered-in-error", "W": "entered-in-error", "P": "preliminary",
               "R": "preliminary", "S": "preliminary", "I": "registered", "X": "cancelled"}


@dataclass
class Result:
    """One OBX with the NTE segments that follow it, and the OBR it is under (if any)."""

    obx: Seg
    notes: list[str] = field(default_factory=list)
    obr: Seg | None = None

    @property
    def item(self) -> str:
        return self.obx.get(3, 1).upper()

    @property
    def group(self) -> str:
        return self.obx.get(4) or self.obx.get(1)

    @property
    def narrative(self) -> str | None:
        return "\n".join(n for n in self.notes if n) or None


@dataclass(frozen=True)
class Visit:
    key: str  # PV1-19 visit number (or OBR filler / MSH-10): what OBX results hang off
    encounter_id: str | None


@dataclass
class ObrGroup:
    """An OBR with the NTEs and OBXs that follow it; the first group (``obr`` None) holds what comes before any OBR."""

    obr: Seg | None
    notes: list[str] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)


def obr_groups(segs: list[Seg]) -> list[ObrGroup]:
    """One pass: NTEs after an OBR belong to it, after an OBX to that OBX."""
    groups = [ObrGroup(None)]
    notes = groups[0].notes
    for seg in segs:
        if seg.name == "OBR":
            groups.append(ObrGroup(seg))
            notes = groups[-1].notes
        elif seg.name == "OBX":
            groups[-1].results.append(Result(seg, obr=groups[-1].obr))
            notes = groups[-1].results[-1].notes
        elif seg.name == "NTE":
            notes.append(seg.text(3))
    return [g for g in groups if g.obr is not None or g.results or g.notes]


def is_visit(obr: Seg) -> bool:
    return obr.get(4, 1).upper() == ITEM_VISIT


def obr_key(obr: Seg) -> str:
    """What identifies a test across messages: filler order number, else placer, else code and time."""
    return obr.get(3) or obr.get(2) or f"{obr.get(4, 1)}@{obr.get(7) or obr.get(1)}"


@dataclass
class Siblings:
    """The results sharing one OBX-4 sub-id; what the capacity items need of them is worked out once."""

    results: list[Result] = field(default_factory=list)
    _capacity: tuple[Result | None, str | None, str | None] | None = None

    def capacity(self) -> tuple[Result | None, str | None, str | None]:
        """(the MCA result, the decision assessed, the reasoning) of this sub-id."""
        if self._capacity is None:
            group = [s for s in self.results if s.item in ("MCA", "MCADEC")]
            main = next((s for s in group if s.item == "MCA"), None)
            decision = next((s.obx.text(5) for s in group if s.item == "MCADEC"), None) or None
            reasoning = "\n".join(s.narrative for s in group if s.narrative) or None
            self._capacity = (main, decision, reasoning)
        return self._capacity


def by_group(results: list[Result]) -> dict[str, Siblings]:
    """Results by OBX-4 sub-id, built once per OBR (sibling lookups stay linear)."""
    groups: dict[str, Siblings] = {}
    for res in results:
        groups.setdefault(res.group, Siblings()).results.append(res)
    return groups


def encounter(ctx: Context, pv1: Seg | None, obr: Seg | None,
              obr_notes: list[str]) -> tuple[Visit, MappedRecord | None]:
    number = (pv1.get(19) if pv1 else "") or (obr.get(3) or obr.get(2) if obr else "")
    visit_key = number or f"message:{ctx.message_id}"
    if pv1 is None and obr is None:
        return Visit(visit_key, None), None
    start = (pv1.fhir_time(44) if pv1 else None) or (obr.fhir_time(7) if obr else None)
    end = (pv1.fhir_time(45) if pv1 else None) or (obr.fhir_time(8) if obr else None)
    nurse = (ctx.xcn(pv1, 7) if pv1 else None) or (ctx.xcn(obr, 32) if obr else None)
    visit_type = coded(obr, 4) if obr else None
    if obr and obr.get(4, 1).upper() == ITEM_VISIT:
        visit_type = local_item(ITEM_VISIT, obr.get(4, 2) or "District nursing visit")
    key = ctx.key("Encounter", visit_key)
    resource = compact({
        "resourceType": "Encounter", "id": ctx.id("Encounter", key),
        "extension": extensions(ext_string(EXT_UNMAPPED, "\n".join(obr_notes) or None)),
        "identifier": [{"system": local_id_system(ctx.source_system, "visit"), "value": number}]
        if number else [],
        "status": "finished" if end else "in-progress", "class": HOME_VISIT_CLASS,
        "type": [visit_type], "subject": ref("Patient", ctx.patient_id),
        "participant": [{"individual": nurse}] if nurse else [],
        "period": period(start, end), "serviceProvider": ctx.sender,
        "location": [{"location": {"display": pv1.get(3, 9)}}] if pv1 and pv1.get(3, 9) else [],
    })
    return Visit(visit_key, resource["id"]), ctx.record(resource, key, "PV1" if pv1 else "OBR")


def result(ctx: Context, res: Result, siblings: dict[str, Siblings], visit: Visit) -> MappedRecord | None:
    """The resource for one OBX; None for an MCADEC folded into its MCA sibling."""
    status = res.obx.get(11).upper()
    if status not in _OBS_STATUS:
        raise FieldError(res.obx.where(11), f"{status!r} is not an observation result status")
    if not res.item:
        raise FieldError(res.obx.where(3), "no observation identifier")
    key = ctx.key("OBX", visit.key, res.item, res.group)
    handler = _HANDLERS.get(res.item) if res.obx.get(3, 3).upper() in ("", "L", "99LOCAL") else None
    if handler is None:
        resource = observation(ctx.id("Observation", key), ctx.patient_id, coded(res.obx, 3) or {},
                               **_obs_common(ctx, res, visit), value=_value(res))
        resource.update(_range_and_flags(res))
        hints = {"unknown_code": res.obx.get(3, 1)} if res.obx.get(3, 3).upper() in ("", "L", "99LOCAL") else {}
        return ctx.record(resource, key, res.obx.label, hints)
    built = handler(ctx, res, siblings, visit, key)
    return None if built is None else ctx.record(built, key, res.obx.label)


def _range_and_flags(res: Result) -> Json:
    """OBX-7 reference range (as sent, text) and OBX-8 abnormal flags (HL7 table 0078 = v3 codes)."""
    flags = [res.obx.get(8, 1, rep) for rep in range(1, res.obx.repetitions(8) + 1)]
    return compact({
        "referenceRange": [{"text": res.obx.text(7)}] if res.obx.text(7) else [],
        "interpretation": [{"coding": [{"system": _INTERPRETATION, "code": f}]} for f in flags if f],
    })


def _obs_common(ctx: Context, res: Result, visit: Visit) -> dict[str, Any]:
    # OBX-14 is when the item was observed; for a test without it, OBR-7 is when the specimen was taken.
    effective = res.obx.fhir_time(14) or (res.obr.fhir_time(7) if res.obr is not None else None)
    return {"status": _OBS_STATUS[res.obx.get(11).upper()], "effective": effective,
            "performer": ctx.xcn(res.obx, 16), "encounter_id": visit.encounter_id,
            "note": res.narrative}


def _flag_status(res: Result) -> str:
    return {"D": "entered-in-error", "W": "entered-in-error", "X": "inactive"}.get(
        res.obx.get(11).upper(), "active")


def _value(res: Result) -> Json | None:
    obx, kind = res.obx, res.obx.get(2).upper()
    if not obx.get(5) and not obx.text(5):
        return None
    if kind in ("CE", "CWE", "CNE"):
        return {"valueCodeableConcept": coded(obx, 5)}
    if kind in ("NM", "SN"):
        raw = obx.get(5)
        try:
            number = float(raw)
        except ValueError:
            raise FieldError(obx.where(5), f"{raw!r} is not a number") from None
        if not math.isfinite(number):
            raise FieldError(obx.where(5), f"{raw!r} is not a number")
        quantity = {"value": int(number) if number.is_integer() else number, "unit": obx.get(6) or None}
        return {"valueQuantity": compact(quantity)}
    if kind in ("DT", "TS", "DTM"):
        return {"valueDateTime": obx.fhir_time(5)}
    return {"valueString": obx.text(5)}


def _risk(ctx: Context, res: Result, _s: list[Result], _v: Visit, key: str) -> Json:
    code = coded(res.obx, 5)
    if code is None:
        raise FieldError(res.obx.where(5), "risk item without a risk code")
    return risk_flag(ctx.id("Flag", key), ctx.patient_id, code, detail=res.narrative,
                     status=_flag_status(res), start=res.obx.fhir_time(14),
                     author=ctx.xcn(res.obx, 16) or ctx.sender)


def _access(item: str, display: str) -> Callable[..., Json]:
    def build(ctx: Context, res: Result, _s: list[Result], _v: Visit, key: str) -> Json:
        value = "\n".join(p for p in (res.obx.text(5), res.narrative) if p)
        if not value:
            raise FieldError(res.obx.where(5), f"{display.lower()} is empty")
        return access_flag(ctx.id("Flag", key), ctx.patient_id, item, display, value,
                           status=_flag_status(res), start=res.obx.fhir_time(14),
                           author=ctx.xcn(res.obx, 16) or ctx.sender)
    return build


def _local_observation(ctx: Context, res: Result, _s: list[Result], visit: Visit, key: str) -> Json:
    code = local_item(res.item, res.obx.get(3, 2) or None)
    return observation(ctx.id("Observation", key), ctx.patient_id, code,
                       **_obs_common(ctx, res, visit), value=_value(res))


def _capacity(ctx: Context, res: Result, siblings: dict[str, Siblings], visit: Visit, key: str) -> Json | None:
    main, decision, reasoning = siblings[res.group].capacity()
    if res.item == "MCADEC" and main is not None:
        return None  # folded into the MCA with the same OBX-4
    common = _obs_common(ctx, res, visit)
    return capacity_assessment(
        ctx.id("Observation", key), ctx.patient_id,
        outcome=(res.obx.get(5, 1).upper() or None) if res.item == "MCA" else None,
        decision=decision, reasoning=reasoning, assessor=common["performer"],
        effective=common["effective"], status=common["status"], encounter_id=visit.encounter_id)


def _dnacpr(ctx: Context, res: Result, _s: list[Result], visit: Visit, key: str) -> Json:
    answer = res.obx.get(5, 1).upper()
    if answer not in ("Y", "N"):
        raise FieldError(res.obx.where(5), f"{answer!r} is not a DNACPR answer (Y/N)")
    value = local_item(answer, res.obx.get(5, 2) or ("In place" if answer == "Y" else "Not in place"))
    return observation(ctx.id("Observation", key), ctx.patient_id, dnacpr_code(answer == "Y"),
                       **_obs_common(ctx, res, visit), value={"valueCodeableConcept": value})


def diagnostic_report(ctx: Context, group: ObrGroup, visit: Visit, observations: list[str]) -> MappedRecord:
    """A test (an OBR that is no district-nursing visit) with its results."""
    obr = group.obr
    assert obr is not None
    code = coded(obr, 4)
    if code is None:
        raise FieldError(obr.where(4), "a test (OBR) without a universal service identifier")
    status = obr.get(25).upper()
    if status not in _REPORT_STATUS:
        raise FieldError(obr.where(25), f"{status!r} is not a result status")
    issued = obr.time(22)
    key = ctx.key("DiagnosticReport", visit.key)
    resource = compact({
        "resourceType": "DiagnosticReport", "id": ctx.id("DiagnosticReport", key),
        "identifier": [{"system": local_id_system(ctx.source_system, kind), "value": obr.get(field)}
                       for field, kind in ((2, "placer-order"), (3, "filler-order")) if obr.get(field)],
        "status": _REPORT_STATUS[status], "code": code,
        "category": [{"text": obr.get(24)}] if obr.get(24) else [],
        "subject": ref("Patient", ctx.patient_id),
        "encounter": ref("Encounter", visit.encounter_id) if visit.encounter_id else None,
        "effectiveDateTime": obr.fhir_time(7),
        "issued": issued[0] if issued and issued[1] is not None else None,  # an instant needs a time
        "performer": [ctx.sender], "resultsInterpreter": [ctx.xcn(obr, 32)],
        "result": [ref("Observation", oid) for oid in observations],
        "conclusion": "\n".join(n for n in group.notes if n) or None,
    })
    return ctx.record(resource, key, obr.label)


_HANDLERS: dict[str, Callable[..., Json | None]] = {
    "RISK": _risk,
    "KEYSAFE": _access(ITEM_KEYSAFE, "Key safe code"),
    "ACCESS": _access(ITEM_ACCESS, "Access instructions"),
    "WATERLOW": _local_observation,
    "WOUND": _local_observation,
    "MCA": _capacity,
    "MCADEC": _capacity,
    "DNACPR": _dnacpr,
}
