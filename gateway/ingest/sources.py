"""The source registry: which sender may push which source systems, and which organisations each
source may name as members of a person's care team.

A care-team membership is what gives an organisation a "legitimate relationship" with a person
(gateway/policy/context.py reads it from CareTeam participants and Patient.generalPractitioner), so
a source that may name any organisation could give anyone access to the whole record. Pushes over
HTTP (``POST /ingest/{format}``, the sender known from its token) are therefore checked here:

- a message's source system must be the sender itself or one the registry lets it send;
- every organisation its CareTeam participants or Patient.generalPractitioner name must be the
  source itself or one of the registry's ``care_team`` organisations for that source.

Anything else is quarantined with the reason ("held for review"): nothing of it is trusted or stored
until an operator either adds the organisation to the registry (then ``gateway quarantine retry
ID``) or reviews the message and retries it by hand — the CLI is the operator's own path and is not
restricted. The registry is a YAML (or JSON) file named by ``GATEWAY_SOURCES``::

    C8Q2R:                       # source system (its ODS code)
      senders: [C8Q2R, CASESYS]  # token `org` values that may push it (default: itself)
      care_team: [NHC01, RX1]    # organisations it may name as care-team members (besides itself)

Without the file every sender may push only its own records and name only itself.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from adapters.base import ODS_SYSTEM


@dataclass(frozen=True)
class Source:
    system: str
    senders: frozenset[str]
    care_team: frozenset[str]


class SourceRegistryError(ValueError):
    pass


class SourceRegistry:
    def __init__(self, sources: Iterable[Source] = ()) -> None:
        self.sources = {s.system: s for s in sources}

    @classmethod
    def load(cls, path: str | Path) -> SourceRegistry:
        file = Path(path)
        if not file.is_file():
            return cls()
        try:
            data = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as exc:
            raise SourceRegistryError(f"{file}: {exc}") from exc
        if not isinstance(data, dict):
            raise SourceRegistryError(f"{file}: expected a mapping of source system -> settings")
        sources = []
        for system, entry in data.items():
            entry = entry or {}
            if not isinstance(entry, dict):
                raise SourceRegistryError(f"{file}: {system}: expected a mapping with senders / care_team")
            senders = _strings(entry.get("senders", [system]), file, system, "senders")
            sources.append(Source(str(system), frozenset(senders), frozenset(_strings(entry.get("care_team", []),
                                                                                       file, system, "care_team"))))
        return cls(sources)

    def may_send(self, sender: str, system: str) -> bool:
        if sender == system:
            return True
        source = self.sources.get(system)
        return source is not None and sender in source.senders

    def may_name(self, system: str, org: str) -> bool:
        if org == system:
            return True
        source = self.sources.get(system)
        return source is not None and org in source.care_team


def _strings(value: Any, file: Path, system: str, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise SourceRegistryError(f"{file}: {system}.{key}: expected a list of codes")
    return [str(v) for v in value]


def _ods(ref: Any) -> str | None:
    if not isinstance(ref, dict):
        return None
    ident = ref.get("identifier")
    if isinstance(ident, dict) and ident.get("value") and ident.get("system", ODS_SYSTEM) == ODS_SYSTEM:
        return str(ident["value"])
    return None


def care_team_organisations(resource: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(organisation code, where) for every organisation a resource would make part of the care team
    — the same places gateway/policy/context.py reads memberships from."""
    rtype = resource.get("resourceType")
    if rtype == "Patient":
        yield from _registered_practices(resource)
    elif rtype == "CareTeam":
        yield from _care_team_members(resource)


def _registered_practices(patient: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for i, gp in enumerate(patient.get("generalPractitioner") or []):
        if (org := _ods(gp)) is not None:
            yield org, f"Patient.generalPractitioner[{i}]"


def _care_team_members(team: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for i, part in enumerate(team.get("participant") or []):
        if not isinstance(part, dict):
            continue
        for where in ("onBehalfOf", "member"):
            if (org := _ods(part.get(where))) is not None:
                yield org, f"CareTeam.participant[{i}].{where}"
    for i, managing in enumerate(team.get("managingOrganization") or []):
        if (org := _ods(managing)) is not None:
            yield org, f"CareTeam.managingOrganization[{i}]"
