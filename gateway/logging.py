"""structlog JSON logs to stdout; the request id rides in contextvars so every line carries it."""
from __future__ import annotations

import logging

import structlog


def configure(level: str = "info") -> None:
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric if isinstance(numeric, int) else 20),
        logger_factory=structlog.PrintLoggerFactory(),  # writes to whatever sys.stdout is at the time
        cache_logger_on_first_use=False,
    )


get_logger = structlog.get_logger
