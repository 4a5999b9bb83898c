"""The national data opt-out list (CSV) -> FHIR Consent."""
from adapters.opt_out.adapter import OptOutAdapter

__all__ = ["OptOutAdapter"]
