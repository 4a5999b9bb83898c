"""deploy/ without Docker or a cluster: the Kubernetes manifests validate (strictly) against the
Kubernetes OpenAPI schemas (kubernetes-validate), the compose file against the Compose
Specification schema (the copy check-jsonschema ships), and both say what the hardening requires:
non-root, read-only root filesystem, no privilege escalation, probes on /healthz and /readyz,
resource limits, a PodDisruptionBudget, keys from secrets, a migration Job."""
from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S_VERSION = "1.30.0"


def _k8s() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def _kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in _k8s() if d["kind"] == kind]


@pytest.mark.parametrize("doc", _k8s(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_manifest_validates_against_the_kubernetes_schema(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)  # raises ValidationError


def test_a_broken_manifest_is_caught() -> None:  # the validator is really looking
    [deployment] = _kind("Deployment")
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = {"no": 1}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFileSystem"] = True  # typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def _pod_specs() -> list[dict[str, Any]]:
    return [d["spec"]["template"]["spec"] for d in _k8s() if d["kind"] in ("Deployment", "Job")]


def test_pods_run_hardened() -> None:
    for pod in _pod_specs():
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            limits, requests = container["resources"]["limits"], container["resources"]["requests"]
            assert {"cpu", "memory"} <= limits.keys() and {"cpu", "memory"} <= requests.keys()
            # The only writable path is an emptyDir at /tmp (the policy cache lives there).
            writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
            assert writable == {"/tmp"}


def test_probes_hit_the_operations_endpoints() -> None:
    from gateway.api.ops import router

    paths = {route.path for route in router.routes}  # type: ignore[attr-defined]
    [deployment] = _kind("Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {"/healthz", "/readyz", "/metrics"} <= paths


def test_disruption_budget_scaling_and_migration_job() -> None:
    [deployment], [pdb], [job] = _kind("Deployment"), _kind("PodDisruptionBudget"), _kind("Job")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["minAvailable"] < deployment["spec"]["replicas"]  # a drain can always make progress
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["gateway", "init"]
    [service] = _kind("Service")
    assert service["spec"]["selector"].items() <= labels.items()


def test_keys_come_from_a_secret_never_from_literals() -> None:
    [secret] = _kind("Secret")
    for pod in _pod_specs():
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["keys"]["secret"]["secretName"] == secret["metadata"]["name"]
    [config] = _kind("ConfigMap")
    assert config["data"]["GATEWAY_PRODUCTION"] == "true"
    for value in config["data"].values():
        assert "BEGIN" not in value and "postgresql" not in value  # no key or credential in a ConfigMap


# -- compose -------------------------------------------------------------------------------------
def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def _compose_schema() -> dict[str, Any]:
    schema = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    return json.loads(schema.read_text())


def test_compose_validates_against_the_compose_specification() -> None:
    schema = _compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(_compose())]
    assert not errors, errors
    broken = _compose()
    broken["services"]["gateway-a"]["read_only_rootfs"] = True  # not a Compose key
    assert list(validator.iter_errors(broken))  # the schema is really looking


def test_compose_runs_two_hardened_gateways_behind_tls_proxy_on_one_database() -> None:
    compose = _compose()
    services = compose["services"]
    gateways = [name for name, s in services.items() if s.get("command") != ["gateway", "init"]
                and str(s.get("image", "")).startswith("care-gateway")]
    assert sorted(gateways) == ["gateway-a", "gateway-b"]
    for name in [*gateways, "migrate"]:
        s = services[name]
        assert s["read_only"] is True and s["cap_drop"] == ["ALL"] and "no-new-privileges:true" in s["security_opt"]
        assert not s["user"].startswith("0") and s["user"].split(":")[0] != "root"
        assert {"database-url", "audit-ed25519.pem", "jwks.json"} <= set(s["secrets"])
        assert s["environment"]["GATEWAY_DATABASE_URL_FILE"].startswith("/run/secrets/")
    for name in gateways:
        assert "readyz" in " ".join(services[name]["healthcheck"]["test"])
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    conf = (DEPLOY / "nginx" / "gateway.conf").read_text()
    assert all(f"server {name}:8080" in conf for name in gateways) and "ssl_certificate" in conf
    assert services["proxy"]["image"].startswith("nginx")


def test_dockerfile_runs_as_non_root_without_writing_its_image() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    final = text[text.rindex("\nFROM "):]
    users = re.findall(r"^USER\s+(\S+)", final, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert "GATEWAY_PRODUCTION=true" in final and "HEALTHCHECK" in final
    assert "GATEWAY_POLICY_CACHE_DIR=/tmp/" in final  # the only writes go to /tmp
    assert "PYTHONDONTWRITEBYTECODE=1" in final
