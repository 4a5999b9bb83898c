"""Adult Social Care Client Level Data (DHSC CSV return) -> FHIR R4."""
from adapters.cld.adapter import CldAdapter

__all__ = ["CldAdapter"]
