"""settings.yaml: the pack's IG settings (the person's access history), checked like the rest of the pack."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.policy import PolicyEngine, PolicyError
from gateway.settings import shipped_policy_dir


def _pack(tmp_path: Path, settings: str | None) -> Path:
    pack = tmp_path / "pack"
    shutil.copytree(shipped_policy_dir(), pack)
    if settings is None:
        (pack / "settings.yaml").unlink()
    else:
        (pack / "settings.yaml").write_text(settings)
    return pack


def test_shipped_settings_and_defaults_without_the_file(tmp_path: Path) -> None:
    shipped = PolicyEngine.load(shipped_policy_dir()).vocabulary
    assert shipped.person_view.staff_names == "name_and_organisation" and not shipped.person_view.omit_purposes
    assert shipped.roles["gp"].records_consent and not shipped.roles["gp"].records_opt_out
    assert shipped.roles["patient"].records_consent and shipped.roles["patient"].records_opt_out
    assert not shipped.roles["receptionist"].records_consent
    view = PolicyEngine.load(_pack(tmp_path, None), check_invariants=False).vocabulary.person_view
    assert view.staff_names == "name_and_organisation" and view.omit_purposes == frozenset()


@pytest.mark.parametrize(("text", "says"), [
    ("person_view:\n  omit_purposes: [nope]\n", "unknown purpose 'nope'"),
    ("person_view:\n  omit_purposes: [emergency]\n", "break glass"),
    ("person_view:\n  staff_names: initials\n", "initials"),
    ("person_view:\n  colour: blue\n", "colour"),
])
def test_bad_settings_are_named(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(PolicyError) as error:
        PolicyEngine.load(_pack(tmp_path, text), check_invariants=False)
    assert says in str(error.value) and "settings.yaml" in str(error.value)
