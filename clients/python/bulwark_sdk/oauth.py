"""OAuth 2.0 client credentials with private_key_jwt (RFC 7523) and DPoP (RFC 9449), for the bearer
grant (`pip install bulwark-sdk[oauth]`)."""
from __future__ import annotations

import hashlib
import json
import secrets
import ssl
import time
import urllib.parse
import urllib.request

from cryptography.hazmat.primitives.asymmetric import ec

from .keys import b64u


class OAuthClient:
    def __init__(self, issuer: str, client_id: str, client_key, ca_file: str | None = None, kid: str | None = None):
        """`issuer` is the gateway's base URL (https://host:port); `client_key` the private key whose
        public JWK was registered (`bulwark oauth clients create --jwk`)."""
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.client_key = client_key
        self.kid = kid
        self.tls = ssl.create_default_context(cafile=ca_file)
        self.dpop_key = ec.generate_private_key(ec.SECP256R1())

    def _assertion(self) -> str:
        import jwt
        now = int(time.time())
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": self.issuer + "/oauth/token",
                  "iat": now, "exp": now + 60, "jti": secrets.token_urlsafe(16)}
        algorithm = "EdDSA" if not isinstance(self.client_key, ec.EllipticCurvePrivateKey) else "ES256"
        return jwt.encode(claims, self.client_key, algorithm=algorithm, headers={"kid": self.kid} if self.kid else None)

    def _dpop_jwk(self) -> dict:
        numbers = self.dpop_key.public_key().public_numbers()
        return {"kty": "EC", "crv": "P-256", "x": b64u(numbers.x.to_bytes(32, "big")), "y": b64u(numbers.y.to_bytes(32, "big"))}

    def dpop_proof(self, method: str, url: str, access_token: str | None = None, nonce: str | None = None) -> str:
        import jwt
        claims = {"jti": secrets.token_urlsafe(16), "htm": method, "htu": url, "iat": int(time.time())}
        if access_token:
            claims["ath"] = b64u(hashlib.sha256(access_token.encode()).digest())
        if nonce:
            claims["nonce"] = nonce
        return jwt.encode(claims, self.dpop_key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": self._dpop_jwk()})

    def token(self, scope: str | None = None) -> dict:
        """A DPoP-bound access token (`token_type` DPoP); retries once with the server's nonce if asked."""
        form = {"grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": self._assertion()}
        if scope:
            form["scope"] = scope
        nonce = None
        for _ in range(2):
            headers = {"Content-Type": "application/x-www-form-urlencoded",
                       "DPoP": self.dpop_proof("POST", self.issuer + "/oauth/token", nonce=nonce)}
            request = urllib.request.Request(self.issuer + "/oauth/token", data=urllib.parse.urlencode(form).encode(), headers=headers)
            try:
                with urllib.request.urlopen(request, context=self.tls, timeout=10) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as error:
                body = json.loads(error.read() or b"{}")
                if body.get("error") == "use_dpop_nonce" and error.headers.get("DPoP-Nonce"):
                    nonce = error.headers["DPoP-Nonce"]
                    form["client_assertion"] = self._assertion()
                    continue
                raise RuntimeError(f"token request refused: {error.code} {body}") from error
        raise RuntimeError("token request refused: nonce loop")

    def websocket_proof(self, access_token: str, websocket_url: str):
        """The `dpop` callable for `BulwarkClient.login_with_token`: a proof bound to each challenge."""
        https = "https://" + websocket_url.split("://", 1)[1]
        return lambda challenge: self.dpop_proof("GET", https, access_token=access_token, nonce=challenge)
