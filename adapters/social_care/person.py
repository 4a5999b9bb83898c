"""<Person> -> Patient."""
from __future__ import annotations

from adapters.base import MappedRecord
from adapters.fhir_helpers import (
    compact,
    contact_points,
    human_name,
    local_id_system,
    nhs_identifier,
    org_ref,
)
from adapters.social_care.model import Export, Item, ItemError

_GENDERS = {"female", "male", "other", "unknown"}
_KNOWN = {"NhsNumber", "Name", "BirthDate", "Gender", "Address", "Phone", "Email", "GpPractice"}


def nhs_number(item: Item) -> str | None:
    value = item.text("NhsNumber")
    return value.replace(" ", "") if value else None


def patient(export: Export, item: Item) -> MappedRecord:
    name, address, gp = item.child("Name"), item.child("Address"), item.child("GpPractice")
    gender = (item.text("Gender") or "").lower() or None
    if gender and gender not in _GENDERS:
        raise ItemError(f"{item.path}/Gender", f"{gender!r} is not one of {sorted(_GENDERS)}")
    number = nhs_number(item)
    resource = compact({
        "resourceType": "Patient", "id": export.patient_id,
        "extension": [item.unmapped(_KNOWN)], "active": not item.retracted,
        "identifier": [nhs_identifier(number) if number else None,
                       {"system": local_id_system(export.council, "person"), "value": item.id}],
        "name": [human_name(name.get("family"), (name.get("given"), name.get("middle")),
                            name.get("title")) if name is not None else None],
        "telecom": contact_points(item.text("Phone"), item.text("Email"), use="home"),
        "gender": gender,
        "birthDate": item.parse_date(item.text("BirthDate"), f"{item.path}/BirthDate"),
        "address": [{"use": "home", "line": [address.get("line1"), address.get("line2")],
                     "city": address.get("town"), "postalCode": address.get("postcode")}
                    if address is not None else None],
        "generalPractitioner": [org_ref(gp.get("ods"), (gp.text or "").strip() or None)
                                if gp is not None else None],
    })
    return export.item_record(item, resource)
