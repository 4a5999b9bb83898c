"""Community nursing (district-nursing caseloads): HL7 v2.4 ADT and ORU messages -> FHIR R4."""
from adapters.community_hl7v2.adapter import Hl7Body, Hl7v2Adapter

__all__ = ["Hl7Body", "Hl7v2Adapter"]
