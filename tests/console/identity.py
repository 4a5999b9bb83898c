"""The test OpenID provider (tests/console/oidc_provider.py) in its own process, and a gateway
configured to sign in through it."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.console.browser import ROOT, free_port

CLIENT_ID, CLIENT_SECRET = "care-gateway-console", "a-test-client-secret"


@dataclass
class Provider:
    issuer: str
    process: subprocess.Popen[bytes]

    def next_token(self, mode: str) -> None:
        """Make the next ID token misbehave: expired, wrong-issuer, wrong-audience, forged."""
        answer = httpx.post(f"{self.issuer}/_test/next", json={"mode": mode}, timeout=10)
        answer.raise_for_status()

    def settings(self) -> dict[str, Any]:
        return {"console_oidc_issuer": self.issuer, "console_oidc_client_id": CLIENT_ID,
                "console_oidc_client_secret": CLIENT_SECRET, "console_oidc_scopes": "openid profile"}


def staff_and_people(nhs_number: str, name: str) -> dict[str, dict[str, Any]]:
    """The provider's accounts: subject → the claims of its ID token."""
    return {
        "cis2-ig-officer": {"name": "Ina Gee", "job_role": "S0010:G0020:R8012", "org": "X26"},
        "cis2-auditor": {"name": "Audrey Tor", "job_role": [{"role_code": "S8000:G8000:R8013"}], "org": "X26"},
        "cis2-unmapped": {"name": "Una Mapped", "job_role": "S0010:G0020:R9999", "org": "X26"},
        "cis2-no-org": {"name": "Nora Org", "job_role": "R8013"},
        "nhs-login-person": {"name": name, "nhs_number": nhs_number},
    }


@contextmanager
def provider(directory: Path, redirect_uri: str, users: dict[str, dict[str, Any]],
             client_jwks: dict[str, Any] | None = None) -> Iterator[Provider]:
    """The provider in its own process; with ``client_jwks`` the client must use private_key_jwt."""
    port = free_port()
    accounts = directory / "provider-users.json"
    accounts.write_text(json.dumps(users), encoding="utf-8")
    extra = []
    if client_jwks is not None:
        (directory / "client-jwks.json").write_text(json.dumps(client_jwks), encoding="utf-8")
        extra = ["--client-jwks", str(directory / "client-jwks.json")]
    log = (directory / "provider.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.console.oidc_provider", "--port", str(port), "--client-id", CLIENT_ID,
         "--client-secret", CLIENT_SECRET, "--redirect-uri", redirect_uri, "--users", str(accounts), *extra],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    issuer = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:  # until its discovery document answers
            try:
                if httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log_text = (directory / "provider.log").read_text()
                raise RuntimeError(f"the test OpenID provider did not start: {log_text}")
            time.sleep(0.1)
        yield Provider(issuer, process)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
