"""A small filesystem of the test's own (tmpfs) that can be filled to the last byte and emptied again:
a real "No space left on device" under a served gateway's database. Mounting needs the privilege to
mount (root in a container that allows it); without it, the tests that need one are skipped."""
from __future__ import annotations

import errno
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path


class SmallFilesystem:
    def __init__(self, size_mib: int, owner: str | None = None) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="gateway-faults-fs."))
        options = f"size={size_mib}m,mode=0700"
        if owner is not None:
            user = pwd.getpwnam(owner)
            options += f",uid={user.pw_uid},gid={user.pw_gid}"
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(self.path)],
                                 capture_output=True, text=True)
        if mounted.returncode != 0:
            self.path.rmdir()
            raise PermissionError(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
        os.chmod(self.path, 0o711)  # others pass through to what the owner puts inside
        self.ballast = self.path / "ballast"

    def fill(self) -> None:
        """Write until the filesystem refuses: every block is taken."""
        with self.ballast.open("ab", buffering=0) as handle:  # unbuffered: nothing left to flush at close
            chunk = b"\0" * (1 << 20)
            try:
                while handle.write(chunk):
                    pass
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise

    def clear(self) -> None:
        self.ballast.unlink(missing_ok=True)

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False, capture_output=True)
        shutil.rmtree(self.path, ignore_errors=True)
