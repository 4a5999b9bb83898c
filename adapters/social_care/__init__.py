"""Adult social care: the council case-record export (XML) -> FHIR R4."""
from adapters.social_care.adapter import ExportBody, SocialCareAdapter

__all__ = ["ExportBody", "SocialCareAdapter"]
