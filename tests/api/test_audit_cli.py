"""An edited audit row makes `gateway audit verify` fail, naming the record."""
from __future__ import annotations

import os
import subprocess
import sys

import httpx
import sqlalchemy as sa

from gateway.settings import Settings
from gateway.testing import auth_headers
from gateway.wiring import Gateway
from tests.api.conftest import Loaded


def _verify(settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GATEWAY_DATABASE_URL": settings.database_url, "GATEWAY_AUDIT_KEY": settings.audit_key,
           "GATEWAY_JWKS": settings.jwks, "GATEWAY_SIGNING_JWKS": settings.signing_jwks}
    return subprocess.run([sys.executable, "-m", "gateway.cli", "audit", "verify"], env=env, capture_output=True,
                          text=True, timeout=120)


async def test_edited_audit_row_fails_verification(client: httpx.AsyncClient, settings: Settings,
                                                   gateway: Gateway, loaded: Loaded) -> None:
    for role in ("gp", "receptionist", "gp"):
        response = await client.get(f"/fhir/Patient/{loaded.patient_id}/$everything",
                                    headers=auth_headers(settings, role, loaded.person.practice_ods))
        assert response.status_code == 200
    intact = _verify(settings)
    assert intact.returncode == 0, intact.stdout + intact.stderr

    with gateway.engine.begin() as conn:  # an operator quietly changes who read the record
        row = conn.execute(sa.text("SELECT seq, body FROM audit_record ORDER BY seq LIMIT 1 OFFSET 1")).one()
        edited = row.body.replace('"receptionist"', '"gp"') if isinstance(row.body, str) else \
            row.body.replace(b'"receptionist"', b'"gp"')
        assert edited != row.body
        conn.execute(sa.text("UPDATE audit_record SET body = :c WHERE seq = :s"), {"c": edited, "s": row.seq})
    broken = _verify(settings)
    assert broken.returncode != 0
    assert str(row.seq) in broken.stdout + broken.stderr
