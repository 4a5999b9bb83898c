"""FHIR errors as typed exceptions, turned into OperationOutcome in one place (the app's handler)."""
from __future__ import annotations

from typing import Any


class FhirError(Exception):
    status = 500
    code = "exception"  # http://hl7.org/fhir/issue-type
    severity = "error"

    def __init__(self, diagnostics: str, *, code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        if code:
            self.code = code
        self.headers = headers or {}

    def outcome(self) -> dict[str, Any]:
        return operation_outcome([(self.severity, self.code, self.diagnostics)])


class BadRequest(FhirError):
    status, code = 400, "invalid"


class Unauthorized(FhirError):
    status, code = 401, "login"

    def __init__(self, diagnostics: str) -> None:
        super().__init__(diagnostics, headers={"WWW-Authenticate": 'Bearer realm="care-gateway"'})


class Forbidden(FhirError):
    status, code = 403, "forbidden"


class NotFound(FhirError):
    status, code = 404, "not-found"


class Gone(FhirError):
    status, code = 410, "deleted"


class NotAcceptable(FhirError):
    status, code = 406, "not-supported"


class UnsupportedMediaType(FhirError):
    status, code = 415, "not-supported"


class Conflict(FhirError):
    status, code = 409, "conflict"


class Unprocessable(FhirError):
    """422: the body is well-formed but cannot be taken; ``expression`` names the element (FHIRPath)."""

    status, code = 422, "invalid"

    def __init__(self, diagnostics: str, *, expression: str | None = None, code: str | None = None) -> None:
        super().__init__(diagnostics, code=code)
        self.expression = expression

    def outcome(self) -> dict[str, Any]:
        outcome = operation_outcome([(self.severity, self.code, self.diagnostics)])
        if self.expression:
            outcome["issue"][0]["expression"] = [self.expression]
        return outcome


class PayloadTooLarge(FhirError):
    status, code = 413, "too-costly"


class ServiceUnavailable(FhirError):
    """503: the database or the audit log cannot serve now; nothing was released. Retry-After: a
    database restart or failover is usually over within seconds."""

    status, code = 503, "transient"

    def __init__(self, diagnostics: str, *, code: str | None = None) -> None:
        super().__init__(diagnostics, code=code, headers={"Retry-After": "5"})


def operation_outcome(issues: list[tuple[str, str, str]]) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": s, "code": c, "diagnostics": d} for s, c, d in issues],
    }
