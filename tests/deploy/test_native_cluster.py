"""Many processes, one product: deploy/native/cluster starts two gateway processes behind nginx
(TLS, generated certificate) against one PostgreSQL database. Load goes through the proxy; then
the audit log is one chain that verifies, and a policy put live on one process is live on the
other within the stated bound (poll interval + compile time), through the database alone — each
process has its own copy of the policy directory, as on separate hosts."""
from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from gateway.testing import POSTGRES_ENV, auth_headers, fresh_postgres_database, settings_for

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "native" / "cluster"
POLL_SECONDS = 0.5
BOUND_SECONDS = POLL_SECONDS + 3.0  # poll interval + compiling the pack (≈0.3 s here) + a loaded machine's slack

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not os.environ.get(POSTGRES_ENV), reason=f"{POSTGRES_ENV} is not set"),
    pytest.mark.skipif(not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()),
                       reason="nginx is not installed (scripts/test installs it)"),
]


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture
def cluster(tmp_path: Path):  # type: ignore[no-untyped-def]
    with fresh_postgres_database() as url:
        proxy, a, b = _free_ports(3)
        env = {**os.environ, "GATEWAY_DATABASE_URL": url, "PROXY_PORT": str(proxy), "GATEWAY_PORTS": f"{a} {b}",
               "GATEWAY_POLICY_POLL_SECONDS": str(POLL_SECONDS), "GATEWAY_BIN": str(Path(os.sys.executable).parent
                                                                                    / "gateway")}
        directory = tmp_path / "cluster"
        started = subprocess.run([str(SCRIPT), "start", str(directory)], env=env, capture_output=True, text=True,
                                 timeout=240)
        try:
            assert started.returncode == 0, started.stderr + "".join(
                p.read_text()[-2000:] for p in directory.glob("gw-*/log"))
            keys = directory / "keys"
            settings = settings_for(directory, url).model_copy(update={
                "jwks": str(keys / "jwks.json"), "signing_jwks": str(keys / "signing-jwks.json"),
                "audit_key": str(keys / "audit-ed25519.pem"), "policy_cache_dir": str(tmp_path / "test-cache")})
            yield directory, settings, f"https://localhost:{proxy}", (a, b), env
        finally:
            subprocess.run([str(SCRIPT), "stop", str(directory)], env=env, timeout=60)


def test_two_processes_behind_tls_proxy_one_chain_one_policy(cluster) -> None:  # type: ignore[no-untyped-def]
    from bench.api import load_record
    from gateway.wiring import build_gateway

    directory, settings, proxy_url, (port_a, port_b), env = cluster
    gw = build_gateway(settings, run_migrations=False)
    try:
        patient_id, practice, _ = load_record(gw, extra_items=20)
        condition = next(s for s in gw.store.compartment(patient_id) if s.resource_type == "Condition")
    finally:
        gw.close()
    headers = auth_headers(settings, "gp", practice)
    paths = [f"/fhir/Condition/{condition.id}", f"/fhir/Patient/{patient_id}/$everything"]

    # -- load through the proxy, over TLS, from 8 concurrent keep-alive clients -------------------
    cert = ssl.create_default_context(cafile=str(directory / "tls" / "cert.pem"))
    per_client = 25

    def client(i: int) -> tuple[list[int], set[int]]:
        with httpx.Client(base_url=proxy_url, verify=cert, timeout=60) as http:
            statuses = [http.get(paths[(i + k) % 2], headers=headers).status_code for k in range(per_client)]
            pids = {http.get("/healthz").json()["pid"] for _ in range(4)}
        return statuses, pids

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(client, range(8)))
    statuses = [s for r, _ in results for s in r]
    assert statuses == [200] * (8 * per_client)
    served_by = set().union(*(p for _, p in results))
    assert len(served_by) == 2, f"the proxy used {served_by}, not both processes"

    # -- one audit chain across both processes, verified by the auditor's command -------------------
    verify = subprocess.run([str(Path(env["GATEWAY_BIN"])), "audit", "verify"], cwd=directory, capture_output=True,
                            text=True, timeout=120, env={**env, "GATEWAY_AUDIT_KEY": settings.audit_key,
                                                        "GATEWAY_JWKS": settings.jwks})
    assert verify.returncode == 0, verify.stdout + verify.stderr
    engine = sa.create_engine(settings.database_url)
    with engine.connect() as conn:
        seqs = [r[0] for r in conn.execute(sa.text("SELECT seq FROM audit_record ORDER BY seq"))]
    engine.dispose()
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 8 * per_client

    # -- a policy put live on process A is live on process B within the bound ---------------------
    ig = auth_headers(settings, "ig_officer", "X26", user="IG-1")
    pack_a = directory / "gw-1" / "policies"
    rule = pack_a / "rules" / "10_direct_care_matrix.yaml"
    rule.write_text(rule.read_text() + "\n# reviewed by the Caldicott guardian\n")
    with httpx.Client(timeout=60) as http:
        before = http.get(f"http://127.0.0.1:{port_b}/policy", headers=ig).json()["version"]
        reloaded = http.post(f"http://127.0.0.1:{port_a}/policy/reload", headers=ig)
        published = time.monotonic()
        assert reloaded.status_code == 200, reloaded.text
        new = reloaded.json()["version"]
        assert new != before
        while True:
            seen = http.get(f"http://127.0.0.1:{port_b}/policy", headers=ig).json()["version"]
            elapsed = time.monotonic() - published
            if seen == new:
                break
            assert elapsed < BOUND_SECONDS, f"process B still serves {seen} {elapsed:.1f} s after the publish"
            time.sleep(0.05)
        # B's own directory was never touched: the version came through the database.
        assert \
            (directory / "gw-2" / "policies" / "rules" / "10_direct_care_matrix.yaml").read_text() != rule.read_text()
        # Through the proxy, every process now answers with the new version.
        with httpx.Client(base_url=proxy_url, verify=cert, timeout=60) as proxied:
            versions = {proxied.get("/policy", headers=ig).json()["version"] for _ in range(6)}
        assert versions == {new}
    print(f"policy live on the second process {elapsed:.2f} s after the publish (bound {BOUND_SECONDS} s)")
