"""Settings from environment variables (prefix ``GATEWAY_``) or a ``.env`` file."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PACKAGE_DIR = Path(__file__).resolve().parent


def shipped_policy_dir() -> Path:
    """The default policy pack: the repository's ``consent_policies/`` (editable install) or the
    copy packed into the wheel — found from the package, never from the working directory."""
    repo_copy = _PACKAGE_DIR.parent / "consent_policies"
    return repo_copy if repo_copy.is_dir() else _PACKAGE_DIR / "_shipped_policies"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///gateway.sqlite"
    # A file holding the database URL (a mounted secret: compose, Kubernetes); wins over database_url.
    database_url_file: str | None = None
    policy_dir: Path = shipped_policy_dir()
    # Token verification: a JWKS file (or URL) with the public keys of trusted issuers.
    jwks: str = str(Path("var") / "jwks.json")
    # Development signing key for `gateway token` and the SMART token endpoint (private JWK set).
    signing_jwks: str = str(Path("var") / "signing-jwks.json")
    # Registered SMART backend-services clients: {client_id: {jwks, role, org, purpose_of_use, name}}
    clients: str = str(Path("var") / "clients.json")
    # `iss` of the tokens the gateway signs; tokens are accepted only from it and `trusted_issuers`
    # (a JSON list in GATEWAY_TRUSTED_ISSUERS), and only when `aud` is `token_audience`.
    token_issuer: str = "care-gateway"
    trusted_issuers: list[str] = []
    token_audience: str = "care-gateway"
    token_lifetime_seconds: int = 3600
    # Ed25519 private key (PEM) that signs audit checkpoints.
    audit_key: str = str(Path("var") / "audit-ed25519.pem")
    audit_checkpoint_every: int = 256
    audit_retention_days: int | None = None
    # Cross-process policy publication (gateway/policy/publication.py): the version in force lives in
    # the database; every process checks for a newer one this often (0: never) and swaps it in.
    policy_publication: bool = True
    policy_poll_seconds: float = 1.0
    policy_cache_dir: str = str(Path("var") / "policy-cache")
    # A FHIR terminology server (its base URL) for `gateway policy expand` only: the gateway never
    # calls it at run time (SNOMED CT expansions are cached in the policy pack).
    terminology_url: str | None = None
    # OpenTelemetry spans per request (needs an SDK and exporter configured by the operator; the API
    # alone records nothing). Off by default.
    tracing: bool = False
    production: bool = False
    # The web console (gateway/console, docs/console.md): the key that signs its session cookies
    # (created outside production mode when missing); a session ends after console_session_seconds
    # (absolute) or console_session_idle_seconds unused, whichever comes first.
    console_session_key: str = str(Path("var") / "console-session.key")
    console_session_seconds: int = 8 * 3600
    console_session_idle_seconds: int = 30 * 60
    # OpenID Connect sign-in for the console (CIS2 for staff, NHS login for citizens): the issuer
    # (discovery at {issuer}/.well-known/openid-configuration), the client registered there, the
    # scopes asked for, and how claims map to a gateway role, organisation and NHS number. Empty
    # issuer: no OpenID Connect sign-in. The client secret may be given as a file (a mounted secret).
    console_oidc_issuer: str = ""
    console_oidc_client_id: str = ""
    console_oidc_client_secret: str = ""
    console_oidc_client_secret_file: str | None = None
    # private_key_jwt instead of the secret: a file holding the client's private key (a JWK, RSA or
    # EC, with its kid; or an RSA PEM); its public half is registered at the issuer.
    console_oidc_private_key: str | None = None
    console_oidc_scopes: str = "openid profile"
    console_oidc_role_claim: str = "job_role"  # a job-role code (roles.yaml job_roles) or a gateway role name
    console_oidc_org_claim: str = "org"  # the ODS code of the user's organisation
    console_oidc_name_claim: str = "name"
    console_oidc_nhs_number_claim: str = "nhs_number"  # NHS login: the person's own NHS number
    # The role of a user whose ID token has an NHS number and no role claim (NHS login): the person.
    console_oidc_citizen_role: str = "patient"
    max_body_bytes: int = 20 * 1024 * 1024
    # Origins browser apps may call the API from (CORS), as a JSON list; ["*"]: any (tokens are bearer
    # headers, never cookies, so no credentials mode); []: no CORS headers at all.
    cors_origins: list[str] = ["*"]
    base_url: str = "http://localhost:8080/fhir"
    # The gateway's public URL (scheme://host[:port], no path): SMART client assertions must name
    # `{public_url}/auth/token` as their `aud` — never derived from the request's Host header.
    # Empty: the origin of `base_url`.
    public_url: str = ""
    # Source registry (YAML or JSON): which sender may push which source systems, and which
    # organisations each source may name as care-team members (see docs/security.md).
    sources: str = str(Path("var") / "sources.yaml")
    log_level: str = "info"


    @model_validator(mode="after")
    def _read_secret_files(self) -> Settings:
        if self.database_url_file:
            self.database_url = Path(self.database_url_file).read_text(encoding="utf-8").strip()
        if self.console_oidc_client_secret_file:
            self.console_oidc_client_secret = Path(self.console_oidc_client_secret_file).read_text(
                encoding="utf-8").strip()
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def public_origin(settings: Settings) -> str:
    """scheme://host[:port] the gateway is reached at: ``public_url``, else the origin of ``base_url``."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    parts = urlsplit(settings.base_url)
    return f"{parts.scheme}://{parts.netloc}"
