"""A PostgreSQL server of the test's own, to stop and start under load without disturbing the server
the rest of the suite shares (scripts/postgres starts that one the same way: Debian's binaries,
``su postgres`` when we are root, trust authentication on 127.0.0.1)."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.served import free_port


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: [int(x) for x in p.split("/")[-2].split(".")
                                                                            if x.isdigit()])
    if found:
        return Path(found[-1])
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresServer:
    """``initdb`` in a fresh directory and a server on a free port; :meth:`stop` / :meth:`start` at will."""

    def __init__(self) -> None:
        bindir = _bindir()
        if bindir is None:
            raise FileNotFoundError("no PostgreSQL binaries (initdb, pg_ctl)")
        self.bindir = bindir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="gateway-faults-pg."))
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres")
        self._run(f"'{bindir}/initdb' -D '{self.dir}/data' -A trust -U postgres >'{self.dir}/initdb.log' 2>&1")
        self.start()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, command: str) -> None:
        argv = ["su", "postgres", "-s", "/bin/bash", "-c", command] if os.getuid() == 0 else ["bash", "-c", command]
        subprocess.run(argv, check=True, timeout=120)

    def start(self) -> None:
        self._run(f"'{self.bindir}/pg_ctl' -D '{self.dir}/data' -l '{self.dir}/server.log' -w -o \"-p {self.port} "
                  f"-k '{self.dir}' -c listen_addresses=127.0.0.1 -c fsync=off\" start >/dev/null")

    def stop(self) -> None:
        """A fast shutdown: open sessions are cut off, as by an operator's restart or a failover."""
        self._run(f"'{self.bindir}/pg_ctl' -D '{self.dir}/data' -m fast -w stop >/dev/null")

    def destroy(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.dir, ignore_errors=True)
