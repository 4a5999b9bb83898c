"""Community-nursing HL7 v2.4 feed for invented people: A28 (person), A04 (caseload), ORU^R01 (visit).

What each message says follows the Person fields (risk flag, capacity, DNACPR...), so the HL7,
social-care and GP feeds agree about the same people.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

from adapters.fhir_helpers import RISK_CODES
from adapters.synthetic.people import (
    COMMUNITY_TRUST,
    CONDITION_NAMES,
    SENSITIVE_CONDITIONS,
    Person,
)
from adapters.synthetic.social_care import access_details

_RELATIONSHIPS = {"daughter": "DAU^Daughter", "son": "SON^Son", "spouse": "SPO^Spouse", "friend": "FRD^Friend"}
_START = datetime(2026, 10, 1, 9, 0)
MLLP_START, MLLP_END = b"\x0b", b"\x1c\r"


def escape(text: str) -> str:
    """HL7 escapes for the delimiters ``| ^ ~ \\ &``."""
    out = text.replace("\\", "\\E\\")
    for char, code in (("|", "F"), ("^", "S"), ("~", "R"), ("&", "T")):
        out = out.replace(char, f"\\{code}\\")
    return out


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S")


def _msh(kind: str, control: int, when: datetime) -> str:
    return f"MSH|^~\\&|DNCASE|{COMMUNITY_TRUST}|GATEWAY|GW|{_ts(when)}||{kind}|DN-{control:06d}|P|2.4"


def _pid(p: Person) -> str:
    sex = "F" if p.gender == "female" else "M"
    return (f"PID|||{p.nhs_number}^^^NHS^NH~DN{50000 + p.index}^^^{COMMUNITY_TRUST}^PI||"
            f"{escape(p.family.upper())}^{escape(p.given.upper())}^^^{p.title.upper()}||"
            f"{p.birth_date:%Y%m%d}|{sex}|||{escape(p.address_line)}^^{p.town}^^{p.postcode}||{p.phone}")


def _pv1(p: Person, visit: str, start: datetime | None, end: datetime | None) -> str:
    team, nurse, family, given = p.nursing_team
    fields = [""] * 46  # index = field number; PV1-44/45 sit far to the right
    fields[2], fields[3], fields[7], fields[19] = "O", f"^^^^^^^^{team}", f"{nurse}^{family}^{given}", visit
    fields[44], fields[45] = (_ts(start) if start else ""), (_ts(end) if end else "")
    return ("PV1|" + "|".join(fields[1:])).rstrip("|")


def _segments_a28(p: Person, control: int, when: datetime) -> list[str]:
    code, gp_family, gp_given = p.gp
    relative = f"{escape(p.family.upper())}^{escape(p.relative_given.upper())}"
    phone = f"07700 9{p.index % 100000:05d}"
    segs = [_msh("ADT^A28^ADT_A05", control, when), f"EVN|A28|{_ts(when)}", _pid(p),
            f"PD1|||{escape(p.practice_name)}^^{p.practice_ods}|{code}^{gp_family}^{gp_given}^^^Dr",
            f"NK1|1|{relative}|{_RELATIONSHIPS[p.relative_relationship]}||{phone}||NOK^Next of kin",
            f"NK1|2|{relative}|{_RELATIONSHIPS[p.relative_relationship]}||{phone}||KH^Key holder"]
    if p.lacks_capacity:
        segs.append(f"NK1|3|{relative}|{_RELATIONSHIPS[p.relative_relationship]}||{phone}||"
                    "LPAHW^LPA health and welfare")
    for n, snomed in enumerate(c for c in p.conditions if c not in SENSITIVE_CONDITIONS):
        segs.append(f"DG1|{n + 1}||{snomed}^{escape(CONDITION_NAMES[snomed])}^SCT||{_ts(when)}")
    return segs


def _segments_a04(p: Person, control: int, when: datetime) -> list[str]:
    team, nurse, family, given = p.nursing_team
    return [_msh("ADT^A04^ADT_A01", control, when), f"EVN|A04|{_ts(when)}", _pid(p),
            _pv1(p, f"REF-{p.index:05d}", when, None),
            (f"ROL|1|AD|CASELOAD^Caseload holder|{nurse}^{family}^{given}|{_ts(when)}|||||{team}||"
             f"0161 555 {7000 + p.index % 1000:04d}")]


def _segments_oru(p: Person, control: int, when: datetime, rng: random.Random) -> list[str]:
    _, nurse, family, given = p.nursing_team
    visit, staff = f"V-{when:%Y%m%d}-{p.index}", f"{nurse}^{family}^{given}"
    obx: list[str] = []

    def add(kind: str, item: str, value: str, note: str | None = None, group: int | None = None) -> None:
        n = len([s for s in obx if s.startswith("OBX")]) + 1
        obx.append(f"OBX|{n}|{kind}|{item}|{group or n}|{value}||||||F|||{_ts(when)}||{staff}")
        if note:
            obx.append(f"NTE|1||{escape(note)}")

    if p.risk_flag:
        add("CE", "RISK^Risk to staff^L", f"{p.risk_flag}^{RISK_CODES[p.risk_flag]}^L",
            f"Reported at visit: {RISK_CODES[p.risk_flag].lower()} - take care & plan visits in pairs.")
    key_safe, instructions = access_details(p)
    add("ST", "KEYSAFE^Key safe code^L", key_safe)
    add("TX", "ACCESS^Access instructions^L", escape(f"{instructions} | key safe left of the door"))
    add("NM", "WATERLOW^Waterlow score^L", str(rng.randint(5, 22)))
    if p.lacks_capacity is not None:
        outcome = "LACKS^Lacks capacity^L" if p.lacks_capacity else "HAS^Has capacity^L"
        group = 90
        add("CE", "MCA^Mental capacity assessment^L", outcome,
            "Two-stage test applied: could not retain information about wound care." if p.lacks_capacity
            else "Understood, retained and weighed the options; the decision is theirs to make.", group)
        add("ST", "MCADEC^Decision assessed^L", "Consent to daily wound care", None, group)
    add("CE", "DNACPR^DNACPR decision^L", "Y^In place^L" if p.dnacpr else "N^Not in place^L")
    end = when + timedelta(minutes=35)
    return [_msh("ORU^R01^ORU_R01", control, when), _pid(p), _pv1(p, visit, when, end),
            f"OBR|1|||VISIT^District nursing visit^L|||{_ts(when)}{'|' * 25}{staff}", *obx]


def hl7v2_messages(people: list[Person], seed: int = 1, framed: bool = False) -> bytes:
    """One A28, A04 and ORU^R01 per person, ``\\r``-separated (MLLP-framed when ``framed``)."""
    rng = random.Random(seed)
    messages: list[str] = []
    control = 0
    for p in people:
        when = _START + timedelta(days=p.index % 28, minutes=rng.randrange(0, 480))
        for build in (_segments_a28, _segments_a04):
            control += 1
            messages.append("\r".join(build(p, control, when)) + "\r")
            when += timedelta(hours=1)
        control += 1
        messages.append("\r".join(_segments_oru(p, control, when + timedelta(days=1), rng)) + "\r")
    if framed:
        return b"".join(MLLP_START + m.encode("utf-8") + MLLP_END for m in messages)
    return "".join(messages).encode("utf-8")


def write_hl7v2(directory: Path, people: list[Person], seed: int = 1, framed: bool = False) -> list[Path]:
    """The feed as one file in ``directory`` (the signature every synthetic writer shares)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "community-nursing.hl7"
    path.write_bytes(hl7v2_messages(people, seed, framed))
    return [path]
