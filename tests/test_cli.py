"""The `gateway` command as an operator runs it: from any directory, settings from the environment."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jwt
import orjson

from adapters.synthetic.gp_connect import write_gp_connect
from adapters.synthetic.people import invent_people
from gateway.demo import write_sources
from gateway.initialise import initialise
from gateway.testing import settings_for


def run(tmp_path: Path, *args: str, initialised: bool = True) -> subprocess.CompletedProcess[str]:
    settings = settings_for(tmp_path)
    if initialised:
        initialise(settings)  # as `gateway init` would, once (idempotent)
    env = {**os.environ, "GATEWAY_DATABASE_URL": settings.database_url, "GATEWAY_AUDIT_KEY": settings.audit_key,
           "GATEWAY_JWKS": settings.jwks, "GATEWAY_SIGNING_JWKS": settings.signing_jwks,
           "GATEWAY_LOG_LEVEL": "warning"}
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)  # not the repository: the shipped policy must still be found


def test_ingest_folder_and_glob_with_summary_then_idempotent(tmp_path: Path) -> None:
    people = invent_people(3, seed=21)
    write_gp_connect(tmp_path / "gp", people)
    first = run(tmp_path, "ingest", "--format", "gp-connect", str(tmp_path / "gp"), "--json")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert summary["messages"] == 3 and summary["accepted"] > 10 and summary["quarantined"] == 0
    again = run(tmp_path, "ingest", "--format", "gp-connect", str(tmp_path / "gp" / "*.json"), "--json")
    repeat = json.loads(again.stdout.strip().splitlines()[-1])
    assert repeat["accepted"] == 0 and repeat["unchanged"] == summary["accepted"]


def test_bad_file_is_quarantined_listed_and_retried_after_a_fix(tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_bytes(b'{"resourceType": "Bundle", "type": "collection", "entry": [')
    result = run(tmp_path, "ingest", "--format", "gp-connect", str(bad), "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout.strip().splitlines()[-1])["quarantined"] == 1
    [listed] = json.loads(run(tmp_path, "quarantine", "list", "--json").stdout)
    assert listed["origin"].endswith("broken.json") and listed["status"] == "open" and listed["reason"]
    person = invent_people(1, seed=4)[0]
    fixed = tmp_path / "fixed.json"
    from adapters.synthetic.gp_connect import gp_connect_bundle

    fixed.write_bytes(orjson.dumps(gp_connect_bundle(person)))
    retried = run(tmp_path, "quarantine", "retry", "1", "--file", str(fixed))
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert json.loads(run(tmp_path, "quarantine", "list", "--json").stdout) == []
    [resolved] = json.loads(run(tmp_path, "quarantine", "list", "--all", "--json").stdout)
    assert resolved["status"] == "resolved"


def test_folder_with_a_broken_file_among_small_ones_reports_each_under_its_own_name(tmp_path: Path) -> None:
    folder = tmp_path / "council"
    files = [path for _, paths in write_sources(folder, 4) for path in paths if path.suffix == ".xml"]
    assert len(files) == 4
    broken = files[1].with_name("case-record-0001-broken.xml")  # sorts between two good files
    broken.write_bytes(files[0].read_bytes()[:200])
    result = run(tmp_path, "ingest", "--format", "social-care", str(folder / "social-care"), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["messages"] == 4 and summary["accepted"] > 4 and summary["quarantined"] == 1
    assert [p["origin"] for p in summary["problems"]] == [str(broken)]
    [listed] = json.loads(run(tmp_path, "quarantine", "list", "--json").stdout)
    assert listed["origin"] == str(broken) and listed["bytes"] == 200
    again = run(tmp_path, "ingest", "--format", "social-care", str(folder / "social-care"))  # the table
    assert again.returncode == 0, again.stderr
    problems = again.stderr.replace("\n", "")  # rich wraps at the terminal width
    assert str(broken) in problems and "not well-formed XML" in problems
    assert "ingest summary" in again.stdout


def test_ingest_prints_a_report_per_input_and_per_resource_type(tmp_path: Path) -> None:
    folder = tmp_path / "gp"
    write_gp_connect(folder, invent_people(2, seed=31))
    (folder / "zz-junk.json").write_bytes(b"not a record")
    table = run(tmp_path, "ingest", "--format", "gp-connect", str(folder))
    assert table.returncode == 0, table.stderr
    text = table.stdout
    assert "ingest report (per input)" in text and "items by resource type" in text
    assert "refused or held because" in text
    assert "zz-junk.json" in text and "(whole message)" in text
    as_json = json.loads(run(tmp_path, "ingest", "--format", "gp-connect", str(folder), "--json")
                         .stdout.splitlines()[-1])
    assert [Path(i["origin"]).name for i in as_json["inputs"]][-1] == "zz-junk.json"
    for report in as_json["inputs"]:
        for kind, counts in report["items"].items():
            assert counts["came_in"] == counts["stored"] + counts["refused"] + counts["held"], kind
    assert as_json["items"]["Patient"] == {"came_in": 2, "stored": 2, "refused": 0, "held": 0}


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    result = run(tmp_path, "ingest", "--format", "gp-connect", str(tmp_path / "nope.json"))
    assert result.returncode != 0 and "nope.json" in result.stderr


def test_token_prints_the_token_alone(tmp_path: Path) -> None:
    result = run(tmp_path, "token", "--user", "G1", "--role", "gp", "--org", "P81001", "--purpose", "direct_care")
    assert result.returncode == 0
    token = result.stdout.strip()
    assert "\n" not in token
    assert jwt.decode(token, options={"verify_signature": False})["org"] == "P81001"


def test_policy_simulate_prints_the_bundle_a_role_would_get(tmp_path: Path) -> None:
    person = invent_people(3, seed=21)[0]
    write_gp_connect(tmp_path / "gp", [person])
    assert run(tmp_path, "ingest", "--format", "gp-connect", str(tmp_path / "gp")).returncode == 0
    as_gp = run(tmp_path, "policy", "simulate", "--role", "gp", "--purpose", "direct_care", "--org",
                person.practice_ods, "--nhs-number", person.nhs_number)
    as_receptionist = run(tmp_path, "policy", "simulate", "--role", "receptionist", "--purpose", "direct_care",
                          "--org", person.practice_ods, "--nhs-number", person.nhs_number)
    assert as_gp.returncode == 0 and as_receptionist.returncode == 0, as_gp.stderr + as_receptionist.stderr

    def types(output: str) -> set[str]:
        bundle = json.loads(output)
        return {e["resource"]["resourceType"] for e in bundle["entry"] if e["search"]["mode"] == "match"}

    assert "Condition" in types(as_gp.stdout) and "Condition" not in types(as_receptionist.stdout)
    unknown = run(tmp_path, "policy", "simulate", "--role", "gp", "--purpose", "direct_care", "--org", "P81001",
                  "--nhs-number", "9434765919")
    assert unknown.returncode == 2


def test_a_data_command_on_an_uninitialised_deployment_creates_nothing_and_says_what_is_missing(
        tmp_path: Path) -> None:
    result = run(tmp_path, "quarantine", "list", initialised=False)
    assert result.returncode == 2
    assert "run `gateway init`" in result.stderr and str(tmp_path / "gateway.sqlite") in result.stderr
    assert not (tmp_path / "gateway.sqlite").exists() and not (tmp_path / "audit-ed25519.pem").exists()
    assert not (tmp_path / "signing-jwks.json").exists()
    token = run(tmp_path, "token", "--user", "G1", "--role", "gp", "--org", "P81001", "--purpose", "direct_care",
                initialised=False)
    assert token.returncode == 2 and "gateway init" in token.stderr and not (tmp_path / "signing-jwks.json").exists()
    audit = run(tmp_path, "audit", "verify", initialised=False)
    assert audit.returncode == 2 and "gateway init" in audit.stderr and not (tmp_path / "gateway.sqlite").exists()


def test_init_then_every_data_command_names_its_database_and_policy(tmp_path: Path) -> None:
    made = run(tmp_path, "init", initialised=False)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "gateway.sqlite").exists() and (tmp_path / "audit-ed25519.pem").exists()
    listed = run(tmp_path, "quarantine", "list", initialised=False)
    assert listed.returncode == 0, listed.stderr
    assert f"database {tmp_path / 'gateway.sqlite'}" in listed.stderr and "consent_policies" in listed.stderr
