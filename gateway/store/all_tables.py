"""Import every module that defines tables, so SQLModel.metadata is complete (Alembic, tests)."""
import gateway.audit.tables  # noqa: F401
import gateway.ingest.tables  # noqa: F401
import gateway.policy.proposals  # noqa: F401
import gateway.policy.publication  # noqa: F401
import gateway.replay  # noqa: F401
import gateway.store.console_sessions  # noqa: F401
import gateway.store.tables  # noqa: F401
