"""What the whole Bundle says before any one entry is mapped.

The index names each entry (its STU3 type and id, its gateway id), resolves references between
entries, finds the patient, the registered practice (whose ODS code is the source system) and the
usual GP, and notes which clinical-area List each item belongs to. Both ``parse`` and ``map`` use
it, so they agree on the source system and on every id.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from adapters.base import NHS_NUMBER_SYSTEM, ODS_SYSTEM, SNOMED, AdapterError, stable_id
from adapters.gp_connect.lists import list_key

# STU3 types R4 renamed; every other type keeps its name.
R4_TYPE_OF = {"ReferralRequest": "ServiceRequest", "ProcedureRequest": "ServiceRequest"}


def entry_location(index: int, suffix: str = "") -> str:
    """Where an entry (or an element of its resource) is, e.g. ``entry[3].resource.code``."""
    return f"entry[{index}].resource" + (f".{suffix}" if suffix else "")


@dataclass(frozen=True)
class IndexedEntry:
    index: int
    resource: dict[str, Any]  # the STU3 resource as sent (never edited)
    stu3_type: str
    source_id: str  # the STU3 logical id
    gateway_id: str

    @property
    def r4_type(self) -> str:
        return R4_TYPE_OF.get(self.stu3_type, self.stu3_type)

    @property
    def r4_reference(self) -> str:
        return f"{self.r4_type}/{self.gateway_id}"

    @property
    def location(self) -> str:
        return entry_location(self.index)


@dataclass(frozen=True)
class Unindexable:
    """An entry that cannot even be named (not an object, no resourceType, no id...)."""

    index: int
    location: str
    reason: str
    raw: bytes


@dataclass
class BundleIndex:
    bundle: dict[str, Any]
    source_system: str
    entries: list[IndexedEntry]
    unindexable: list[Unindexable]
    patient: IndexedEntry
    practice: IndexedEntry | None
    usual_gp: IndexedEntry | None
    patient_nhs_number: str | None
    _by_reference: dict[str, IndexedEntry] = field(default_factory=dict)
    sections: dict[int, dict[str, str]] = field(default_factory=dict)  # entry index -> List code/title

    def resolve(self, reference: str) -> IndexedEntry | None:
        """The entry a reference points at: ``Type/id`` (optionally ``/_history/n``) or a fullUrl."""
        found = self._by_reference.get(reference)
        if found is None and "/_history/" in reference:
            found = self._by_reference.get(reference.split("/_history/", 1)[0])
        return found


def build_index(bundle: dict[str, Any]) -> BundleIndex:
    """Index a Bundle already checked by :func:`adapters.gp_connect.decode.check_bundle`."""
    raw_entries = bundle.get("entry") or []
    named, unindexable, full_urls, lists = _name_entries(raw_entries)
    patient = _the_patient(named)
    # Ids depend on the source system, so the practice is found with provisional (unnamed) lookups.
    practice_index, ods = _registered_practice(patient, named, full_urls)
    named_lists, list_problems = _name_lists(lists, _nhs_number(patient[1]) or f"patient:{patient[3]}")
    named = sorted(named + named_lists, key=lambda n: n[0])
    unindexable = sorted(unindexable + list_problems, key=lambda u: u.index)
    entries = [IndexedEntry(i, res, kind, sid, stable_id(ods, kind, sid)) for i, res, kind, sid in named]
    by_index = {e.index: e for e in entries}
    by_reference: dict[str, IndexedEntry] = {}
    for e in entries:
        by_reference[f"{e.stu3_type}/{e.source_id}"] = e
        if e.index in full_urls:
            by_reference[full_urls[e.index]] = e
    index = BundleIndex(
        bundle=bundle, source_system=ods, entries=entries, unindexable=unindexable,
        patient=by_index[patient[0]],
        practice=by_index.get(practice_index) if practice_index is not None else None,
        usual_gp=None, patient_nhs_number=_nhs_number(patient[1]), _by_reference=by_reference,
    )
    index.usual_gp = _usual_gp(index)
    index.sections = _sections(index)
    return index


Named = tuple[int, dict[str, Any], str, str]  # (entry index, resource, STU3 type, STU3 id)


def _name_entries(raw_entries: list[Any]) -> tuple[list[Named], list[Unindexable], dict[int, str],
                                                   list[tuple[int, dict[str, Any]]]]:
    """Entries named by their own id; Lists without one (as GP Connect requires) are set aside."""
    named: list[Named] = []
    problems: list[Unindexable] = []
    full_urls: dict[int, str] = {}
    seen: dict[tuple[str, str], int] = {}
    lists: list[tuple[int, dict[str, Any]]] = []
    for i, entry in enumerate(raw_entries):
        if _is_list_without_id(entry):
            lists.append((i, entry["resource"]))
            if isinstance(entry.get("fullUrl"), str):
                full_urls[i] = entry["fullUrl"]
            continue
        problem = _entry_problem(i, entry, seen)
        if problem:
            where, reason = problem
            problems.append(Unindexable(i, where, reason, _raw(entry)))
            continue
        resource = entry["resource"]
        kind, sid = resource["resourceType"], _source_id(entry)
        assert sid is not None  # _entry_problem set aside the entries without one
        seen[(kind, sid)] = i
        named.append((i, resource, kind, sid))
        if isinstance(entry.get("fullUrl"), str):
            full_urls[i] = entry["fullUrl"]
    return named, problems, full_urls, lists


def _is_list_without_id(entry: Any) -> bool:
    resource = entry.get("resource") if isinstance(entry, dict) else None
    # A urn:uuid fullUrl is not used as the id here: senders mint it per response, which would make
    # every re-sent record a new List.
    return isinstance(resource, dict) and resource.get("resourceType") == "List" \
        and not (isinstance(resource.get("id"), str) and resource["id"])


def _name_lists(lists: list[tuple[int, dict[str, Any]]], patient_key: str) -> tuple[list[Named], list[Unindexable]]:
    """Source ids for id-less Lists: patient + List code (+ title when two share a code)."""
    keys = {i: list_key(resource) for i, resource in lists}
    counts: dict[str | None, int] = {}
    for key in keys.values():
        counts[key] = counts.get(key, 0) + 1
    named: list[Named] = []
    problems: list[Unindexable] = []
    seen: dict[str, int] = {}
    for i, resource in lists:
        key = keys[i]
        if key is None:
            problems.append(Unindexable(i, entry_location(i, "code"), "List with neither id, code nor title: "
                                        "cannot be told apart from the patient's other Lists", _raw(resource)))
            continue
        if counts[key] > 1 and isinstance(resource.get("title"), str):
            key = f"{key}|title:{resource['title']}"
        if key in seen:
            problems.append(Unindexable(i, entry_location(i, "code"), f"a second List with the same code and "
                                        f"title as entry[{seen[key]}] ({key}): cannot be told apart", _raw(resource)))
            continue
        seen[key] = i
        named.append((i, resource, "List", f"{patient_key}|{key}"))
    return named, problems


def _entry_problem(i: int, entry: Any, seen: dict[tuple[str, str], int]) -> tuple[str, str] | None:
    """Why entry ``i`` cannot be named, or None."""
    if not isinstance(entry, dict):
        return f"entry[{i}]", "entry is not a JSON object"
    resource = entry.get("resource")
    if not isinstance(resource, dict):
        return f"entry[{i}].resource", "entry has no resource object"
    kind = resource.get("resourceType")
    if not isinstance(kind, str) or not kind:
        return entry_location(i, "resourceType"), "missing or not a string"
    sid = _source_id(entry)
    if sid is None:
        return entry_location(i, "id"), "no id (nor urn:uuid fullUrl): cannot give it a stable gateway id"
    if (kind, sid) in seen:
        return entry_location(i, "id"), f"duplicate of entry[{seen[(kind, sid)]}] ({kind}/{sid})"
    return None


def _source_id(entry: dict[str, Any]) -> str | None:
    """The STU3 id; a ``urn:uuid:`` fullUrl stands in for a missing id (it is as stable)."""
    rid = entry["resource"].get("id")
    if isinstance(rid, str) and rid:
        return rid
    full_url = entry.get("fullUrl")
    if isinstance(full_url, str) and full_url.startswith("urn:uuid:") and len(full_url) > 9:
        return full_url[len("urn:uuid:"):]
    return None


def _raw(value: Any) -> bytes:
    return orjson.dumps(value)


def _the_patient(named: list[Named]) -> Named:
    patients = [n for n in named if n[2] == "Patient"]
    if not patients:
        raise AdapterError("entry", "the Bundle has no Patient: a GP record must be about one person")
    if len(patients) > 1:
        raise AdapterError(entry_location(patients[1][0]),
                           f"a second Patient (first at entry[{patients[0][0]}]): cannot tell whose record this is")
    return patients[0]


def _reference_list(value: Any) -> list[dict[str, Any]]:
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict)]


def _lookup_unnamed(reference: Any, named: list[Named], full_urls: dict[int, str]) -> Named | None:
    if not isinstance(reference, str):
        return None
    reference = reference.split("/_history/", 1)[0]
    for n in named:
        if reference == f"{n[2]}/{n[3]}" or full_urls.get(n[0]) == reference:
            return n
    return None


def identifier_value(resource: dict[str, Any] | None, system: str) -> str | None:
    """The value of the first identifier of ``system`` (tolerating broken identifier arrays)."""
    if not isinstance(resource, dict):
        return None
    for ident in _reference_list(resource.get("identifier")):
        if ident.get("system") == system and isinstance(ident.get("value"), str):
            return ident["value"]
    return None


def _registered_practice(patient: Named, named: list[Named],
                         full_urls: dict[int, str]) -> tuple[int | None, str]:
    """The practice Organization and its ODS code: generalPractitioner, else managingOrganization."""
    resource = patient[1]
    candidates = _reference_list(resource.get("generalPractitioner")) + _reference_list(
        resource.get("managingOrganization"))
    for ref in candidates:
        target = _lookup_unnamed(ref.get("reference"), named, full_urls)
        if target is not None and target[2] == "Organization":
            ods = identifier_value(target[1], ODS_SYSTEM)
            if ods:
                return target[0], ods
        ident = ref.get("identifier")
        if target is None and isinstance(ident, dict) and ident.get("system") == ODS_SYSTEM \
                and isinstance(ident.get("value"), str) and ident["value"]:
            return None, ident["value"]
    raise AdapterError(entry_location(patient[0], "generalPractitioner"),
                       "no registered practice (Organization with an ODS code): cannot name the source system")


def _nhs_number(patient: dict[str, Any]) -> str | None:
    value = identifier_value(patient, NHS_NUMBER_SYSTEM)
    return value.replace(" ", "") if value else None


def _usual_gp(index: BundleIndex) -> IndexedEntry | None:
    """The Practitioner in Patient.generalPractitioner (directly or through a PractitionerRole)."""
    for ref in _reference_list(index.patient.resource.get("generalPractitioner")):
        target = index.resolve(ref["reference"]) if isinstance(ref.get("reference"), str) else None
        if target is None:
            continue
        if target.stu3_type == "Practitioner":
            return target
        if target.stu3_type == "PractitionerRole":
            practitioner = target.resource.get("practitioner")
            if isinstance(practitioner, dict) and isinstance(practitioner.get("reference"), str):
                found = index.resolve(practitioner["reference"])
                if found is not None and found.stu3_type == "Practitioner":
                    return found
    return None


def practitioner_role_of(index: BundleIndex, practitioner: IndexedEntry) -> IndexedEntry | None:
    """The PractitionerRole naming ``practitioner`` (GP Connect sends one per practitioner)."""
    for e in index.entries:
        if e.stu3_type != "PractitionerRole":
            continue
        ref = e.resource.get("practitioner")
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str) \
                and index.resolve(ref["reference"]) is practitioner:
            return e
    return None


def _sections(index: BundleIndex) -> dict[int, dict[str, str]]:
    """entry index -> the clinical-area List (SNOMED code, title) it is listed in."""
    sections: dict[int, dict[str, str]] = {}
    for e in index.entries:
        if e.stu3_type != "List":
            continue
        section = _list_section(e.resource)
        for item in _reference_list(e.resource.get("entry")):
            ref = item.get("item")
            target = index.resolve(ref["reference"]) if isinstance(ref, dict) and isinstance(
                ref.get("reference"), str) else None
            if target is not None:
                sections.setdefault(target.index, section)
    return sections


def _list_section(resource: dict[str, Any]) -> dict[str, str]:
    section: dict[str, str] = {}
    code = resource.get("code")
    for coding in _reference_list(code.get("coding") if isinstance(code, dict) else None):
        if coding.get("system") == SNOMED and isinstance(coding.get("code"), str):
            section["list_code"] = coding["code"]
            break
    if isinstance(resource.get("title"), str):
        section["section"] = resource["title"]
    return section
