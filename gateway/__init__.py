"""Care record-sharing gateway: ingest -> store -> FHIR API -> policy -> audit."""

__version__ = "0.1.0"
