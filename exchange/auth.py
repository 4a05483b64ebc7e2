"""The built-in exchange's check of the JWT on private REST requests and private subscribes.

Owns what counts as an acceptable token. With an API key configured (a name and its EC P-256
public key, as `perpsbot exchange --api-key-name NAME --api-public-key PEM` gives them), a token
must be an ES256 JWT whose signature verifies with that key, whose header `kid` and claim `sub`
are the key name, whose `iss` is "cdp", which is within its `nbf`/`exp` at the exchange's clock
and, on REST, whose `uri` claim is exactly "METHOD host/path": the request's method, the API host
(`api.coinbase.com` unless `--api-host` says otherwise, whatever address the request came to) and
its path, with no query string (the mistake production refuses is refused here too). Without a key any well-formed,
unexpired ES256 JWT is accepted (`well_formed_jwt`), as before keys existed.

Pure: time comes in as an argument; loading a key reads a file only when given a path. Must never
log a token or say in a refusal what the token contained beyond the failed rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeGuard

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

AUTH_FAILURE = "authentication failure"  # Coinbase's error frame message, word for word
ALGORITHM = "ES256"
ISSUER = "cdp"
API_HOST = "api.coinbase.com"  # the host a `uri` claim must name (production's)
NBF_SKEW_S = 2.0  # a token made by a client whose clock runs this far ahead is still accepted


class ApiKeyError(ValueError):
    """A public key that cannot be used; one line naming the problem."""


def well_formed_jwt(token: object, now: float) -> bool:
    """True when `token` is a well-formed ES256 JWT that has not expired at `now` (epoch seconds)."""
    if not isinstance(token, str) or token.count(".") != 2:
        return False
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})  # decodes, checks nothing
    except jwt.PyJWTError:
        return False
    if header.get("alg") != ALGORITHM:
        return False
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        return False
    return exp > now


def load_public_key(pem_or_path: str) -> ec.EllipticCurvePublicKey:
    """An EC P-256 public key from PEM text (literal "\\n" allowed) or from a file holding it."""
    text = pem_or_path.replace("\\n", "\n").strip()
    if "-----BEGIN" not in text:
        try:
            text = Path(pem_or_path).read_text().strip()
        except OSError as exc:
            raise ApiKeyError(f"--api-public-key is neither PEM text nor a readable file ({type(exc).__name__})") \
                from None
    try:
        key = serialization.load_pem_public_key((text + "\n").encode())
    except (ValueError, TypeError) as exc:
        raise ApiKeyError(f"the API public key is not a PEM public key ({type(exc).__name__})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ApiKeyError("the API public key is not an EC P-256 (ES256) key")
    return key


class ApiKey:
    """One CDP API key the exchange accepts: its name and public key."""

    __slots__ = ("name", "public_key", "api_host")

    def __init__(self, name: str, public_key: ec.EllipticCurvePublicKey | str, api_host: str = API_HOST) -> None:
        if not name:
            raise ApiKeyError("the API key name is empty")
        self.name = name
        self.api_host = api_host
        self.public_key = load_public_key(public_key) if isinstance(public_key, str) else public_key

    def __repr__(self) -> str:
        return f"ApiKey(name={self.name!r})"

    def refusal(self, token: object, now: float, method: str | None = None, path: str | None = None) -> str:
        """Why `token` is not acceptable at `now` ("" when it is). `method` and `path` are given for
        REST, where the `uri` claim must name them; a subscribe's token needs no `uri`."""
        if not isinstance(token, str) or token.count(".") != 2:
            return "no JWT"
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return "malformed JWT"
        if header.get("alg") != ALGORITHM:
            return f"JWT algorithm must be {ALGORITHM}"
        if header.get("kid") != self.name:
            return "JWT kid is not the API key name"
        try:
            claims = jwt.decode(token, self.public_key, algorithms=[ALGORITHM],
                                options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                                         "verify_aud": False, "verify_iss": False})
        except jwt.InvalidSignatureError:
            return "JWT signature does not verify with the API key"
        except jwt.PyJWTError:
            return "malformed JWT"
        if claims.get("sub") != self.name:
            return "JWT sub is not the API key name"
        if claims.get("iss") != ISSUER:
            return f"JWT iss must be {ISSUER!r}"
        nbf, exp = claims.get("nbf"), claims.get("exp")
        if not _number(nbf) or not _number(exp):
            return "JWT needs numeric nbf and exp"
        if now < nbf - NBF_SKEW_S:
            return "JWT not yet valid"
        if now >= exp:
            return "JWT expired"
        if method is not None and path is not None:
            uri = claims.get("uri")
            if not isinstance(uri, str):
                return "JWT has no uri claim"
            if uri != f"{method.upper()} {self.api_host}{path}":
                return "JWT uri does not match the request"
        return ""


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Authenticator:
    """The exchange's one rule for tokens: an `ApiKey` when configured, else well-formedness."""

    def __init__(self, key: ApiKey | None = None) -> None:
        self.key = key

    def rest_refusal(self, authorization: str | None, now: float, method: str, path: str) -> str:
        """Why a REST request with this `Authorization` header is refused ("" when it is not)."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "missing bearer token"
        return self.token_refusal(token.strip(), now, method, path)

    @staticmethod
    def key_name(authorization: str | None) -> str:
        """The API key a REST request's token names (its `kid`; "" if none): what the private rate
        limit counts by, as Coinbase counts it per key. Only read after the token was accepted."""
        token = (authorization or "").partition(" ")[2].strip()
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            return ""
        return kid if isinstance(kid, str) else ""

    def token_refusal(self, token: object, now: float, method: str | None = None, path: str | None = None) -> str:
        if self.key is not None:
            return self.key.refusal(token, now, method, path)
        return "" if well_formed_jwt(token, now) else "not a well-formed, unexpired ES256 JWT"
