"""Tamper-evident disclosure audit log: hash chain + signed Merkle checkpoints (see README.md)."""
from gateway.audit.anomalies import Anomaly
from gateway.audit.anomalies import report as anomaly_report
from gateway.audit.auditevent import to_audit_events
from gateway.audit.continuity import verify_export
from gateway.audit.formats import write_csv, write_jsonl
from gateway.audit.log import AuditLog
from gateway.audit.model import (
           AuditEntry,
           AuditWriteError,
           Checkpoint,
           ExportSummary,
           Verification,
)
from gateway.audit.proof import verify_proof
from gateway.audit.signing import load_or_create_signing_key, public_key_pem

__all__ = ["Anomaly", "AuditEntry", "AuditLog", "AuditWriteError", "Checkpoint", "ExportSummary", "Verification",
           "anomaly_report", "load_or_create_signing_key", "public_key_pem", "to_audit_events", "verify_export",
           "verify_proof", "write_csv", "write_jsonl"]
