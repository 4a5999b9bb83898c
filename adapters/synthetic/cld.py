"""A Client Level Data return (CSV, docs/formats.md) for invented people: Request, Assessment, Service
and Review rows per person, with the same council ids, NHS numbers and practices as the other feeds."""
from __future__ import annotations

import csv
import io
import random
from datetime import date, timedelta
from pathlib import Path

from adapters.cld.mapping import SPEC_COLUMNS
from adapters.synthetic.people import COUNCIL, Person
from adapters.synthetic.social_care import person_id

_ETHNICITY = ("White: English, Welsh, Scottish, Northern Irish or British", "Black or Black British: African",
              "Asian or Asian British: Pakistani", "Mixed: White and Black Caribbean", "White: Irish")
_SUPPORT = ("Physical Support: Personal care support", "Memory and Cognition",
            "Mental Health Support", "Physical Support: Access and mobility only")


def cld_return(people: list[Person], seed: int = 1) -> str:
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.DictWriter(out, SPEC_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for p in people:
        start = date(2026, 6, 1) + timedelta(days=rng.randrange(0, 60))
        base = {"LA_Code": COUNCIL, "LA_Person_Unique_Identifier": person_id(p),
                "NHS_Number": p.nhs_number, "Date_of_Birth": p.birth_date.isoformat(),
                "Gender": p.gender.capitalize(), "Ethnicity": rng.choice(_ETHNICITY),
                "GP_Practice_Code": p.practice_ods, "Primary_Support_Reason": rng.choice(_SUPPORT),
                "Has_Unpaid_Carer": "Y" if p.relative_relationship in ("daughter", "spouse") else "N"}
        events = [("Request", start, start + timedelta(days=3), "Progress to assessment", {}),
                  ("Assessment", start + timedelta(days=10), start + timedelta(days=10),
                   "Long term support", {}),
                  ("Service", start + timedelta(days=20), None, "",
                   {"Service_Type": "Long Term Support: Community",
                    "Service_Component": "Home Care", "Planned_Units_Per_Week": str(rng.choice((7, 14, 21, 28)))}),
                  ("Review", start + timedelta(days=100), None, "", {})]
        for n, (kind, begin, end, outcome, extra) in enumerate(events):
            writer.writerow({**base, "Event_Type": kind, "Event_Reference": f"EV-{p.index:05d}-{n}",
                             "Event_Start_Date": begin.isoformat(),
                             "Event_End_Date": end.isoformat() if end else "",
                             "Event_Outcome": outcome, **extra})
    return out.getvalue()


def write_cld(directory: Path, people: list[Person], seed: int = 1) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "client-level-data.csv"
    path.write_text(cld_return(people, seed), encoding="utf-8")
    return [path]
