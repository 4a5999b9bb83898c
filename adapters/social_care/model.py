"""The export being mapped and the item elements in it (id, updated, status, precise path)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from xml.etree.ElementTree import Element

from adapters.base import LOCAL_ZONE, Json, LocatedError, MappedRecord, stable_id
from adapters.conventions import EXT_UNMAPPED
from adapters.social_care.xml_input import children, text


class ItemError(LocatedError):
    """An item that cannot be mapped; ``location`` is an element/attribute path."""


@dataclass(frozen=True)
class Item:
    elem: Element
    path: str  # e.g. /CaseRecordExport/Alerts/Alert[2]
    section: str  # e.g. Alerts (the hint the labeller uses)

    def attr(self, name: str) -> str | None:
        value = (self.elem.get(name) or "").strip()
        return value or None

    def child(self, name: str) -> Element | None:
        return next((c for n, c in children(self.elem) if n == name), None)

    def text(self, name: str) -> str | None:
        return text(self.child(name))

    @property
    def id(self) -> str:
        if not (value := self.attr("id")):
            raise ItemError(f"{self.path}/@id", "missing: every item needs a stable id")
        return value

    @property
    def updated(self) -> datetime:
        moment = self.timestamp("updated", required=True)
        assert moment is not None  # required=True raises rather than return None
        return moment

    @property
    def retracted(self) -> bool:
        return self.attr("status") == "entered-in-error"

    def timestamp(self, name: str, required: bool = False) -> datetime | None:
        value = self.attr(name)
        if value is None:
            if required:
                raise ItemError(f"{self.path}/@{name}", "missing")
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ItemError(f"{self.path}/@{name}", f"{value!r} is not an ISO 8601 date-time") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=LOCAL_ZONE)

    def date(self, name: str) -> str | None:
        """An ISO date attribute as a FHIR date; errors name the attribute."""
        return self.parse_date(self.attr(name), f"{self.path}/@{name}")

    @staticmethod
    def parse_date(value: str | None, where: str) -> str | None:
        if value is None:
            return None
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise ItemError(where, f"{value!r} is not a date (YYYY-MM-DD)") from None

    def unmapped(self, known: set[str]) -> Json | None:
        """Child elements the adapter does not know, kept as text rather than dropped."""
        extra = [f"{n}: {text(c) or ''}" for n, c in children(self.elem) if n not in known]
        return {"url": EXT_UNMAPPED, "valueString": "\n".join(extra)} if extra else None


@dataclass(frozen=True)
class Export:
    council: str  # @council: ODS code, the source system
    person_id: str
    nhs_number: str | None
    exported: datetime | None

    def id(self, resource_type: str, key: str) -> str:
        return stable_id(self.council, resource_type, key)

    @property
    def patient_id(self) -> str:
        return self.id("Patient", self.person_id)

    def record(self, resource: Json, key: str, updated: datetime | None, location: str,
               section: str, **hints: Any) -> MappedRecord:
        return MappedRecord(resource=resource, source_system=self.council, source_id=key,
                            source_updated=updated, patient_nhs_number=self.nhs_number,
                            location=location, hints={"section": section, **hints})

    def item_record(self, item: Item, resource: Json, key: str | None = None,
                    part: str | None = None) -> MappedRecord:
        location = f"{item.path}/{part}" if part else item.path
        return self.record(resource, key or item.id, item.updated, location, item.section)
