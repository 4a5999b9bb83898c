"""Non-FHIR surfaces (ingest, audit, policy tools) admit a role by a capability the policy pack grants
in roles.yaml (`ingests`, `reads_audit`, `manages_policies`) — never by a role name in Python."""
from __future__ import annotations

from typing import Any

from starlette.requests import Request

from gateway.api.errors import Forbidden
from gateway.api.security import authenticate
from gateway.requester import Requester


def require_capability(request: Request, capability: str) -> Requester:
    requester = authenticate(request)
    role = request.app.state.gateway.policies.engine.vocabulary.roles.get(requester.role)
    if role is None or not getattr(role, capability, False):
        raise Forbidden(f"role {requester.role!r} lacks the {capability!r} capability in roles.yaml")
    return requester


def require(capability: str) -> Any:
    """A router-level dependency: the caller is authenticated and holds ``capability`` before FastAPI
    reads or validates anything of the request (bodies are parsed by :func:`gateway.api.bodies.json_body`)."""
    def dependency(request: Request) -> Requester:
        return require_capability(request, capability)

    return dependency
