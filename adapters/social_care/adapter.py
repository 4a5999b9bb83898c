"""The adult social-care case-record export adapter (``--format social-care``)."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element, tostring

from adapters.base import AdapterError, MappedRecord, Rejected, SourceMessage
from adapters.social_care import (
    capacity,
    care_package,
    contacts,
    flags,
    notes,
    person,
    sharing,
)
from adapters.social_care.contacts import Member
from adapters.social_care.model import Export, Item, ItemError
from adapters.social_care.xml_input import DEFAULT_MAX_BYTES, ROOT, children, load

Handler = Callable[[Export, Item], list[Any]]

# section element -> {item element -> handler}; Access is an item at the top level.
SECTIONS: dict[str, dict[str, Handler]] = {
    "Contacts": {"Worker": contacts.worker, "Relative": contacts.relative, "Attorney": contacts.attorney},
    "Alerts": {"Alert": flags.alert},
    "CapacityAssessments": {"CapacityAssessment": capacity.assessment},
    "Safeguarding": {"Concern": flags.concern},
    "CarePackage": {"Service": care_package.service},
    "CaseNotes": {"Note": notes.note},
}
TOP_LEVEL_ITEMS: dict[str, Handler] = {"Access": flags.access}
PREFERENCES = {"Objection", "Consent"}  # need the attorneys first (Consent.performer)


@dataclass(frozen=True)
class ExportBody:
    root: Element
    origin: str


class SocialCareAdapter:
    format = "social-care"
    version = "1.0.0"

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes

    def parse(self, raw: bytes, origin: str) -> Iterator[SourceMessage | Rejected]:
        root = load(raw, origin, self.max_bytes)
        council = (root.get("council") or "").strip()
        if not council:
            raise AdapterError(f"/{ROOT}/@council", "missing: the council's ODS code is the source system")
        exported = None
        if stamp := root.get("exported"):
            try:
                exported = datetime.fromisoformat(stamp)
            except ValueError:
                raise AdapterError(f"/{ROOT}/@exported", f"{stamp!r} is not an ISO 8601 date-time") from None
        yield SourceMessage(format=self.format, origin=origin, raw=raw, body=ExportBody(root, origin),
                            source_system=council, message_id=_message_id(root, stamp), message_time=exported)

    def map(self, message: SourceMessage) -> Iterable[MappedRecord | Rejected]:
        body: ExportBody = message.body
        root = body.root
        people = [(i, c) for i, (n, c) in enumerate(children(root)) if n == "Person"]
        if len(people) != 1:
            yield Rejected(f"/{ROOT}/Person", f"an export holds exactly one <Person>; found {len(people)}",
                           message.raw)
            return
        person_item = Item(people[0][1], f"/{ROOT}/Person", "Person")
        try:
            export = Export(message.source_system, person_item.id, person.nhs_number(person_item),
                            message.message_time)
        except ItemError as exc:
            yield Rejected(exc.location, exc.reason, message.raw)
            return
        yield from _guard(person_item.elem, lambda: [person.patient(export, person_item)])
        yield from _map_items(export, root, message.raw)


def _guard(elem: Element, build: Callable[..., Iterable[Any]], *args: Any) -> Iterator[Any]:
    """One bad item is quarantined alone (with its XML); the rest of the export still maps."""
    try:
        yield from build(*args)
    except ItemError as exc:
        yield Rejected(exc.location, exc.reason, tostring(elem, encoding="utf-8"))


def _items(root: Element) -> Iterator[tuple[str, str, Item]]:
    """(section, item name, item) for every item element, with a precise path."""
    for name, section in _indexed(root, f"/{ROOT}"):
        elem, path = section
        if name == "Person":
            continue
        if name in TOP_LEVEL_ITEMS or (name not in SECTIONS and name != "SharingPreferences"):
            yield name, name, Item(elem, path, name)  # an item, or an unknown section as a whole
            continue
        for item_name, (child, child_path) in _indexed(elem, path):
            yield name, item_name, Item(child, child_path, name)


def _indexed(parent: Element, path: str) -> Iterator[tuple[str, tuple[Element, str]]]:
    seen: dict[str, int] = {}
    named = children(parent)
    totals = {n: sum(1 for m, _ in named if m == n) for n, _ in named}
    for name, elem in named:
        seen[name] = seen.get(name, 0) + 1
        suffix = f"[{seen[name]}]" if totals[name] > 1 else ""
        yield name, (elem, f"{path}/{name}{suffix}")


def _map_items(export: Export, root: Element, raw: bytes) -> Iterator[MappedRecord | Rejected]:
    members: list[Member] = []
    preferences: list[Item] = []
    attorneys: list[Item] = []
    for section, name, item in _items(root):
        handler = TOP_LEVEL_ITEMS.get(name) if section == name else SECTIONS.get(section, {}).get(name)
        if section == "SharingPreferences" and name in PREFERENCES:
            preferences.append(item)
            continue
        if handler is None:
            yield Rejected(item.path, f"unknown {'section' if section == name else 'item'} <{name}>: "
                           "not mapped, kept here so nothing is lost")
            continue
        if name == "Attorney":
            attorneys.append(item)
        for out in _guard(item.elem, handler, export, item):
            if isinstance(out, Member):
                members.append(out)
            else:
                yield out
    lpa_id = contacts.lpa_person_id(export, attorneys)
    for item in preferences:
        yield from _guard(item.elem, sharing.preference, export, item, lpa_id)
    if team := contacts.council_team(export, members, f"/{ROOT}/Contacts"):
        yield team


def _message_id(root: Element, stamp: str | None) -> str | None:
    """What identifies one export document (its Provenance id derives from it).

    An export run writes one document per person, all with the same ``exported`` time, so the time
    alone would make every document of a run one message (each overwriting the previous one's
    Provenance): the run's time plus the people the document is about. With neither an
    ``exportId`` nor a time, None: the pipeline then identifies the message by its bytes."""
    if export_id := root.get("exportId"):
        return export_id
    if not stamp:
        return None
    people = sorted(c.get("id") or "" for n, c in children(root) if n == "Person")
    return f"{stamp}|{','.join(people)}"
