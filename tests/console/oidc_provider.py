"""A small, real OpenID Connect provider for the console's sign-in tests, built from Authlib's server
components (Flask integration, authorisation-code grant, PKCE, OpenID Connect code flow).

Run in its own process: ``python -m tests.console.oidc_provider --port P --client-id ID
--client-secret S --redirect-uri URI --users users.json``. ``users.json`` maps each subject to the
claims of its ID token; the provider's sign-in page lets the browser pick one. For the attack tests,
``--client-jwks PATH`` makes the client authenticate with private_key_jwt (RFC 7523) against those
public keys instead of the secret. ``POST /_test/next`` with ``{"mode": ...}`` makes the *next* ID token misbehave:

* ``expired`` — issued two hours ago, expired one hour ago;
* ``wrong-issuer`` — ``iss`` is another issuer;
* ``wrong-audience`` — ``aud`` is another client (``azp`` still names ours);
* ``forged`` — signed by a key that is not in the provider's JWKS (with the real key's ``kid``).

Never used by the gateway itself: this lives under tests/.
"""
from __future__ import annotations

import argparse
import html
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import AuthorizationCodeMixin, UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, jsonify, request
from joserfc.jwk import KeySet, RSAKey

KID = "provider-key-1"


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    client_secret: str
    redirect_uri: str
    jwks: dict[str, Any] | None = None  # private_key_jwt: the client's public keys (then no secret)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in ("openid", "profile", "email"))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri == self.redirect_uri

    def check_client_secret(self, client_secret: str) -> bool:
        return self.jwks is None and client_secret == self.client_secret

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.jwks is not None:
            return method == ClientAssertion.CLIENT_AUTH_METHOD
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    sub: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time


@dataclass
class State:
    issuer: str
    client: Client
    users: dict[str, dict[str, Any]]
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": KID}))
    impostor: RSAKey = field(  # the same kid, not in the JWKS
        default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": KID}))
    codes: dict[str, Code] = field(default_factory=dict)
    mode: str = "normal"


class ClientAssertion(JWTBearerClientAssertion):  # type: ignore[misc]
    """private_key_jwt (RFC 7523) at the token endpoint: Authlib's server side."""

    def __init__(self, state: State) -> None:
        super().__init__(validate_jti=True)
        self.state = state
        self.seen: set[str] = set()

    def get_audiences(self) -> list[str]:
        return [f"{self.state.issuer}/token"]

    def resolve_client_public_key(self, c: Client) -> KeySet:
        return KeySet.import_key_set(c.jwks or {"keys": []})

    def validate_jti(self, claims: Any, jti: str) -> bool:
        if jti in self.seen:
            return False
        self.seen.add(jti)
        return True


class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", ClientAssertion.CLIENT_AUTH_METHOD]
    state: State

    def save_authorization_code(self, code: str, req: Any) -> None:
        data = req.payload.data
        self.state.codes[code] = Code(code, req.client.get_client_id(), req.payload.redirect_uri, req.scope, req.user,
                                      data.get("nonce"), data.get("code_challenge"), data.get("code_challenge_method"))

    def query_authorization_code(self, code: str, c: Client) -> Code | None:
        found = self.state.codes.get(code)
        return found if found is not None and found.client_id == c.get_client_id() else None

    def delete_authorization_code(self, authorization_code: Code) -> None:
        self.state.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: Code) -> str:
        return authorization_code.sub


class IdToken(OpenIDCode):  # type: ignore[misc]
    def __init__(self, state: State) -> None:
        super().__init__(require_nonce=True)
        self.state = state

    def exists_nonce(self, nonce: str, req: Any) -> bool:
        return any(c.nonce == nonce for c in self.state.codes.values())

    def resolve_client_private_key(self, c: Client) -> Any:
        return self.state.impostor if self.state.mode == "forged" else self.state.key

    def get_client_algorithm(self, c: Client) -> str:
        return "RS256"

    def get_encode_header(self, c: Client) -> dict[str, str]:
        return {"alg": "RS256", "kid": KID}

    def get_client_claims(self, c: Client) -> dict[str, Any]:
        now, mode = int(time.time()), self.state.mode
        # for another client, though it names ours as the authorised party (Authlib's own checks pass
        # that: the gateway must insist on its client id in aud)
        wrong_aud = {"azp": c.get_client_id()} if mode == "wrong-audience" else {}
        return {**wrong_aud, "iss": "https://impostor.example" if mode == "wrong-issuer" else self.state.issuer,
                "aud": ["another-client"] if mode == "wrong-audience" else [c.get_client_id()],
                "iat": now - 7200 if mode == "expired" else now,
                "exp": now - 3600 if mode == "expired" else now + 300}

    def generate_user_info(self, user: str, scope: str) -> UserInfo:
        return UserInfo(sub=user, **self.state.users[user])


def create_app(issuer: str, client: Client, users: dict[str, dict[str, Any]]) -> Flask:
    app = Flask(__name__)
    state = State(issuer, client, users)
    grant = type("Grant", (CodeGrant,), {"state": state})
    server = AuthorizationServer(app, query_client=lambda cid: client if cid == client.client_id else None,
                                 save_token=lambda token, req: None)
    server.register_grant(grant, [CodeChallenge(required=True), IdToken(state)])
    server.register_client_auth_method(ClientAssertion.CLIENT_AUTH_METHOD, ClientAssertion(state))

    @app.get("/.well-known/openid-configuration")
    def discovery() -> Any:
        return jsonify({
            "issuer": issuer, "authorization_endpoint": f"{issuer}/authorize", "token_endpoint": f"{issuer}/token",
            "jwks_uri": f"{issuer}/jwks", "response_types_supported": ["code"],
            "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"], "scopes_supported": ["openid", "profile"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"] if client.jwks else [
                "client_secret_basic", "client_secret_post"]})

    @app.get("/jwks")
    def jwks() -> Any:
        return jsonify(KeySet([state.key]).as_dict(private=False))

    @app.get("/authorize")
    def authorize_page() -> Any:
        consent = server.get_consent_grant(end_user=None)  # checks the client, redirect URI, PKCE, nonce
        hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in request.args.items())
        options = "".join(f'<option value="{html.escape(s)}">{html.escape(str(c.get("name", s)))} ({html.escape(s)})'
                          "</option>" for s, c in users.items())
        return (f'<!doctype html><html lang="en"><head><title>Test identity provider</title></head><body><main>'
                f"<h1>Sign in to the test identity provider</h1><p>for {html.escape(consent.client.client_id)}</p>"
                f'<form method="post" action="/authorize">{hidden}<label for="sub">Account</label>'
                f'<select id="sub" name="sub">{options}</select><button type="submit">Continue</button>'
                "</form></main></body></html>")

    @app.post("/authorize")
    def authorize() -> Any:
        sub = request.form.get("sub", "")
        return server.create_authorization_response(grant_user=sub if sub in users else None)

    @app.post("/token")
    def token() -> Any:
        try:
            return server.create_token_response()
        finally:
            state.mode = "normal"  # a misbehaving token is a one-off

    @app.post("/_test/next")
    def next_mode() -> Any:
        state.mode = str((request.get_json(force=True) or {}).get("mode", "normal"))
        return jsonify({"mode": state.mode})

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--redirect-uri", required=True)
    parser.add_argument("--users", type=Path, required=True)
    parser.add_argument("--client-jwks", type=Path, help="private_key_jwt: the client's public keys (no secret)")
    args = parser.parse_args()
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # loopback http in tests; the gateway's side is unchanged
    issuer = f"http://127.0.0.1:{args.port}"
    users = json.loads(args.users.read_text(encoding="utf-8"))
    jwks = json.loads(args.client_jwks.read_text(encoding="utf-8")) if args.client_jwks else None
    app = create_app(issuer, Client(args.client_id, args.client_secret, args.redirect_uri, jwks), users)
    app.run(host="127.0.0.1", port=args.port, threaded=True)


if __name__ == "__main__":
    main()
