"""How an ID token's claims become a console user (gateway.console.oidc.user_from_claims), under the
shipped roles.yaml: CIS2 and NHS login shapes, and what is refused."""
from __future__ import annotations

from typing import Any

import pytest

from gateway.console.oidc import OidcUser, SignInRefused, user_from_claims
from gateway.policy import PolicyEngine
from gateway.settings import Settings, shipped_policy_dir

ENGINE = PolicyEngine.load(shipped_policy_dir())
CIS2 = Settings(console_oidc_role_claim="nhsid_nrbac_roles", console_oidc_org_claim="org_code")


def user(claims: dict[str, Any], settings: Settings = CIS2) -> OidcUser:
    return user_from_claims({"sub": "555", "name": "Sam Smith", **claims}, settings, ENGINE)


def test_cis2_selected_role_gives_the_role_and_its_organisation() -> None:
    roles = [{"person_roleid": "1", "org_code": "P81001", "role_code": "S0010:G0020:R8000"},
             {"person_roleid": "2", "org_code": "RX1", "role_code": "S8000:G8000:R8013"}]
    assert user({"nhsid_nrbac_roles": roles, "selected_roleid": "2"}) == OidcUser("555", "Sam Smith", "auditor", "RX1")
    assert user({"nhsid_nrbac_roles": roles, "selected_roleid": "1"}).role == "gp"


def test_several_roles_without_a_selection_are_refused() -> None:
    roles = [{"person_roleid": "1", "org_code": "P81001", "role_code": "R8000"},
             {"person_roleid": "2", "org_code": "RX1", "role_code": "R8013"}]
    with pytest.raises(SignInRefused, match="several gateway roles"):
        user({"nhsid_nrbac_roles": roles})


def test_nhs_login_is_the_person_scoped_to_their_nhs_number() -> None:
    person = user({"nhs_number": "9434765919"})
    assert (person.role, person.org, person.patient) == ("patient", "NHS-LOGIN", "9434765919")
    with pytest.raises(SignInRefused):  # not an NHS number: nothing to scope to, and no role either
        user({"nhs_number": "94347"})


@pytest.mark.parametrize("claims", [
    {"nhsid_nrbac_roles": "R9999", "org_code": "X26"},  # no role maps it
    {"nhsid_nrbac_roles": "R8013"},  # no organisation
    {"nhsid_nrbac_roles": ["R8013", "R8000"], "org_code": "X26"},  # two roles at once
    {"nhsid_nrbac_roles": 8013, "org_code": "X26"},  # not a role code at all
])
def test_what_does_not_make_a_console_user_is_refused(claims: dict[str, Any]) -> None:
    with pytest.raises(SignInRefused):
        user(claims)


def test_no_subject_is_refused() -> None:
    with pytest.raises(SignInRefused, match="no subject"):
        user_from_claims({"nhsid_nrbac_roles": "R8013", "org_code": "X26"}, CIS2, ENGINE)
