"""Hot reload: a broken policy never replaces a working one."""
from __future__ import annotations

import threading

import pytest

from gateway.policy import PolicyError, PolicyHolder

from .conftest import write


def test_reload_unchanged_is_a_no_op(pack):
    holder = PolicyHolder(pack)
    result = holder.reload()
    assert not result.changed and result.version == holder.version


def test_broken_policy_keeps_the_old_engine(pack):
    holder = PolicyHolder(pack)
    before = holder.engine
    write(pack / "rules" / "99_bad.yaml", "rules:\n  - id: x\n    effect: maybe\n    when: {}\n")
    with pytest.raises(PolicyError) as exc:
        holder.reload()
    assert "rules/99_bad.yaml" in str(exc.value)
    assert holder.engine is before and holder.version == before.version
    result, error = holder.try_reload()
    assert result is None and error is not None and holder.engine is before


def test_invariant_violation_keeps_the_old_engine(pack):
    holder = PolicyHolder(pack)
    before = holder.engine
    p = pack / "purposes.yaml"
    p.write_text(p.read_text().replace("justification_required: true\n    grants_relationship: true",
                                       "grants_relationship: true", 1))
    with pytest.raises(PolicyError) as exc:
        holder.reload()
    assert "emergency.needs_justification" in str(exc.value)
    assert holder.engine is before


def test_good_change_swaps_atomically(pack):
    holder = PolicyHolder(pack)
    before = holder.version
    p = pack / "rules" / "10_direct_care_matrix.yaml"
    p.write_text(p.read_text() + "\n# reviewed by the Caldicott guardian\n")
    seen: set[str] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.add(holder.engine.version)

    t = threading.Thread(target=reader)
    t.start()
    result = holder.reload()
    stop.set()
    t.join()
    assert result.changed and result.previous == before and holder.version == result.version != before
    assert seen <= {before, result.version}


def test_reload_from_another_directory(pack, tmp_path):
    import shutil

    holder = PolicyHolder(pack)
    other = tmp_path / "v2"
    shutil.copytree(pack, other)
    (other / "roles.yaml").write_text((other / "roles.yaml").read_text() + "\n")
    result = holder.reload(other)
    assert result.changed and holder.directory == other
