"""Who is asking, for what: the verified claims of a bearer token, as the policy engine sees them."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Requester:
    user: str  # `sub`: SDS user id or the client id
    name: str
    role: str  # gateway role (gp, district_nurse, ... ig_officer, auditor, source, patient)
    org: str  # ODS code of the caller's organisation
    purpose: str  # gateway purpose (direct_care, emergency, ...)
    justification: str | None = None
    patient: str | None = None  # NHS number the token is scoped to (patient_request), if any
    team: str | None = None  # team code (e.g. DN-ANC), when the caller works in a team
    client: str | None = None  # the calling system (token `azp`/`client_id`), for the audit record
