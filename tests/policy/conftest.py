from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.policy import PolicyEngine
from gateway.settings import shipped_policy_dir

PACK = shipped_policy_dir()


@pytest.fixture(scope="session")
def engine() -> PolicyEngine:
    return PolicyEngine.load(PACK)


@pytest.fixture()
def pack(tmp_path: Path) -> Path:
    """A private copy of the shipped pack, to break or change."""
    target = tmp_path / "pack"
    shutil.copytree(PACK, target)
    return target


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
