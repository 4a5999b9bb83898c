"""`gateway demo`: a fresh SQLite gateway, synthetic people written in every source format and loaded
through the real adapters, and an example request with a freshly minted token."""
from __future__ import annotations

import importlib
import shutil
from pathlib import Path

from adapters.base import NHS_NUMBER_SYSTEM
from adapters.synthetic.people import COMMUNITY_TRUST, invent_people
from gateway.auth import mint_token
from gateway.ingest.pipeline import read_files
from gateway.initialise import initialise
from gateway.settings import Settings
from gateway.wiring import build_gateway

# (format, generator module, writer function): every source the synthetic generator can write.
WRITERS = (
    ("gp-connect", "adapters.synthetic.gp_connect", "write_gp_connect"),
    ("hl7v2", "adapters.synthetic.hl7v2", "write_hl7v2"),
    ("social-care", "adapters.synthetic.social_care", "write_social_care"),
    ("cld", "adapters.synthetic.cld", "write_cld"),
    ("opt-out", "adapters.synthetic.opt_out", "write_opt_out"),
)


def demo_settings(directory: Path) -> Settings:
    directory = directory.resolve()
    return Settings(
        database_url=f"sqlite:///{directory / 'gateway.sqlite'}",
        jwks=str(directory / "jwks.json"),
        signing_jwks=str(directory / "signing-jwks.json"),
        audit_key=str(directory / "audit-ed25519.pem"),
        console_session_key=str(directory / "console-session.key"),
    )


def write_sources(data_dir: Path, people: int, seed: int = 7) -> list[tuple[str, list[Path]]]:
    persons = invent_people(people, seed=seed)
    written = []
    for format, module_name, function in WRITERS:
        try:
            writer = getattr(importlib.import_module(module_name), function)
        except (ImportError, AttributeError):
            continue
        target = data_dir / format
        target.mkdir(parents=True, exist_ok=True)
        written.append((format, list(writer(target, persons))))
    return written


def prepare_demo(directory: Path, people: int, port: int) -> tuple[Settings, str]:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    settings = demo_settings(directory)
    initialise(settings)  # what `gateway init` does: keys and schema, made on purpose
    gw = build_gateway(settings)
    lines = []
    for format, files in write_sources(directory / "data", people):
        summary = gw.ingestor.ingest_files(format, read_files(files))
        lines.append(f"  {format:12} {len(files):4} files: {summary.accepted} stored, {summary.quarantined} "
                     f"quarantined, {summary.held_for_review} held for match review")
    first = invent_people(1, seed=7)[0]
    nurse_team, nurse_code, nurse_family, nurse_given = first.nursing_team
    token = mint_token(settings, user=nurse_code, name=f"{nurse_given} {nurse_family}", role="district_nurse",
                       org=COMMUNITY_TRUST, team=nurse_team, purpose="direct_care")
    [patient] = gw.store.find_by_identifier("Patient", NHS_NUMBER_SYSTEM, first.nhs_number)
    gw.close()
    env = " ".join(f"GATEWAY_{k.upper()}={v}" for k, v in (("database_url", settings.database_url),
                                                           ("jwks", settings.jwks),
                                                           ("signing_jwks", settings.signing_jwks),
                                                           ("audit_key", settings.audit_key)))
    base = f"http://127.0.0.1:{port}/fhir"
    text = "\n".join([
        f"Demo gateway: {directory.resolve() / 'gateway.sqlite'}",
        *lines,
        "",
        f"A district nurse ({nurse_given} {nurse_family}, {COMMUNITY_TRUST}/{nurse_team}) finds a patient:",
        f"  export TOKEN='{token}'",
        f"  curl -s -H \"Authorization: Bearer $TOKEN\" "
        f"'{base}/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|{first.nhs_number}'",
        "and gets everything she may see, merged from every source:",
        f"  curl -s -H \"Authorization: Bearer $TOKEN\" '{base}/Patient/{patient.id}/$everything'",
        "The same record as the practice receptionist sees it (demographics, no clinical detail, notices):",
        f"  export TOKEN=$({env} .venv/bin/gateway token --user R1 --role receptionist "
        f"--org {first.practice_ods} --purpose direct_care)",
        "Verify the audit log of every request so far:",
        f"  {env} .venv/bin/gateway audit verify",
        "",
        f"Web console for IG staff and auditors: http://127.0.0.1:{port}/console/",
        "  (development sign-in: choose a demo IG officer or auditor; refused when GATEWAY_PRODUCTION=true)",
        f"  or sign in as {first.given} {first.family} (patient-{first.nhs_number}) to see who looked at "
        "their record: /console/me/",
        "",
    ])
    return settings, text
