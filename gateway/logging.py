"""structlog JSON logs to stdout; the request id rides in contextvars so every line carries it."""
from __future__ import annotations

import logging
import sys
from typing import TextIO, cast

import structlog


class _Stderr:
    """Whatever sys.stderr is at the time of writing (as PrintLoggerFactory() does for stdout)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure(level: str = "info", *, to_stderr: bool = False) -> None:
    """JSON log lines to stdout (a server's logs), or to stderr for a command whose stdout is data."""
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
        logger_factory=(structlog.PrintLoggerFactory(cast(TextIO, _Stderr())) if to_stderr  # a duck-typed file
                        else structlog.PrintLoggerFactory()),
        cache_logger_on_first_use=False,
    )


get_logger = structlog.get_logger
