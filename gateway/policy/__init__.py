"""Declarative consent-and-purpose policy engine (policies are data in ``consent_policies/``).

Runtime: :class:`PolicyEngine` (``load``, ``categorize``, ``check_request``, ``decide``),
:class:`PolicyHolder` (hot reload), :func:`patient_context`, :func:`apply_redaction`,
:class:`ReleaseAllEngine` (benchmark baseline).
IG tooling: :func:`run_tests`, :func:`explain`, :func:`explain_item`, :func:`diff_policies`,
:func:`diff_items`, :func:`lint`, :func:`check_invariants`; the Typer app is
``gateway.policy.commands.app``.
"""
from gateway.policy.baseline import ReleaseAllEngine
from gateway.policy.context import patient_context
from gateway.policy.diff import diff_items, diff_policies, diff_requests
from gateway.policy.engine import PolicyEngine
from gateway.policy.errors import PolicyError, PolicyProblem
from gateway.policy.explain import explain, explain_item
from gateway.policy.holder import PolicyHolder, ReloadResult
from gateway.policy.igtests import run_tests
from gateway.policy.invariants import check_invariants
from gateway.policy.lint import lint
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
    "apply_redaction", "check_invariants", "diff_items", "diff_policies", "diff_requests", "explain",
    "explain_item", "lint", "patient_context", "run_tests",
]
