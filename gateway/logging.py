"""structlog JSON logs to stdout; the request id rides in contextvars so every line carries it."""
from __future__ import annotations

import logging
from typing import TextIO

import structlog


def configure(level: str = "info", *, stream: TextIO | None = None) -> None:
    """JSON log lines to stdout (a server's logs) or to ``stream`` (a command whose stdout is data)."""
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
        # writes to whatever sys.stdout is at the time, unless told otherwise
        logger_factory=structlog.PrintLoggerFactory(stream) if stream is not None else structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=False,
    )


get_logger = structlog.get_logger
