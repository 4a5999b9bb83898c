"""Source adapters: each turns one real export format into FHIR R4 resource dicts.

An adapter only parses and maps. Validation, patient matching, category labelling,
provenance and storage are the ingest pipeline's job (``gateway.ingest``).
"""
from adapters.base import Adapter, MappedRecord, Rejected, SourceMessage, stable_id

__all__ = ["Adapter", "MappedRecord", "Rejected", "SourceMessage", "stable_id"]
