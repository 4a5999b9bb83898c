"""Declarative consent-and-purpose policy engine (policies are data in ``consent_policies/``)."""
from gateway.policy.baseline import ReleaseAllEngine
from gateway.policy.context import patient_context
from gateway.policy.engine import PolicyEngine
from gateway.policy.errors import PolicyError, PolicyProblem
from gateway.policy.holder import PolicyHolder, ReloadResult
from gateway.policy.model import (
    CareTeamMember,
    ConsentDirective,
    Item,
    ItemDecision,
    Notice,
    PatientContext,
    RequestDecision,
)
from gateway.policy.redact import apply_redaction

__all__ = [
    "CareTeamMember", "ConsentDirective", "Item", "ItemDecision", "Notice", "PatientContext", "PolicyEngine",
    "PolicyError", "PolicyHolder", "PolicyProblem", "ReleaseAllEngine", "ReloadResult", "RequestDecision",
    "apply_redaction", "patient_context",
]
