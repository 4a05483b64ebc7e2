"""Coinbase CDP key authentication: credentials and the ES256 JWT every request and message needs.

Owns loading a CDP key (the key file Coinbase hands out: JSON with `name` and `privateKey`, or
the environment variables COINBASE_API_KEY_NAME and COINBASE_API_PRIVATE_KEY) and building
JWTs: header `alg` ES256, `kid` = key name, random hex `nonce`; claims `sub` = key name,
`iss` "cdp", `nbf` = now, `exp` = now + 120 and, for REST only, `uri` = "METHOD host/path" with
no query string. A JWT lives 120 s, so callers make a fresh one per request and per websocket
message. Must never log, print or repr a private key: the PEM is registered for redaction.
"""

from __future__ import annotations

import json
import os
import secrets
import urllib.parse
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from runtime.logging import register_secret

JWT_LIFETIME_S = 120
ENV_KEY_NAME = "COINBASE_API_KEY_NAME"
ENV_PRIVATE_KEY = "COINBASE_API_PRIVATE_KEY"


class CredentialsError(ValueError):
    """A key that cannot be used; the message never contains the key itself."""


class Credentials:
    __slots__ = ("key_name", "_private_key")

    def __init__(self, key_name: str, private_key_pem: str) -> None:
        if not key_name:
            raise CredentialsError("the API key name is empty")
        pem = private_key_pem.replace("\\n", "\n").strip() + "\n"  # env vars often carry literal \n
        register_secret(pem.strip())
        try:
            key = serialization.load_pem_private_key(pem.encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise CredentialsError(f"the private key of {key_name!r} is not a PEM key ({type(exc).__name__})") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise CredentialsError(f"the key of {key_name!r} is not an EC P-256 key: create an ECDSA (ES256) key")
        self.key_name = key_name
        self._private_key = key

    def __repr__(self) -> str:
        return f"Credentials(key_name={self.key_name!r}, private_key=***)"

    @classmethod
    def from_key_file(cls, path: str | Path) -> Credentials:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise CredentialsError(f"cannot read key file {path}: {type(exc).__name__}") from None
        if not isinstance(data, dict) or "name" not in data or "privateKey" not in data:
            raise CredentialsError(f"key file {path}: expected JSON with 'name' and 'privateKey'")
        return cls(str(data["name"]), str(data["privateKey"]))

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Credentials | None:
        env = os.environ if environ is None else environ
        name, pem = env.get(ENV_KEY_NAME), env.get(ENV_PRIVATE_KEY)
        if not name and not pem:
            return None
        if not name or not pem:
            raise CredentialsError(f"set both {ENV_KEY_NAME} and {ENV_PRIVATE_KEY}")
        return cls(name, pem)

    def public_key_pem(self) -> str:
        return self._private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def make_jwt(self, now: float, uri: str | None = None) -> str:
        claims: dict[str, Any] = {"sub": self.key_name, "iss": "cdp", "nbf": int(now),
                                  "exp": int(now) + JWT_LIFETIME_S}
        if uri is not None:
            claims["uri"] = uri
        headers = {"kid": self.key_name, "nonce": secrets.token_hex(16)}
        return jwt.encode(claims, self._private_key, algorithm="ES256", headers=headers)


def new_private_key_pem() -> str:
    """A fresh EC P-256 private key as PKCS#8 PEM: a throwaway key for rehearsals."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def new_key_file(path: str | Path) -> Credentials:
    """Make a throwaway EC P-256 CDP key and write it to `path` in the JSON shape Coinbase hands out
    ({"name", "privateKey"}), readable by the owner only (0600). Never overwrites a file: a real
    key may live there. Raises CredentialsError."""
    pem = new_private_key_pem()
    name = f"organizations/perpsbot-exchange/apiKeys/{secrets.token_hex(8)}"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CredentialsError(f"{path} already exists: the new key is never written over a file") from None
    except OSError as exc:
        raise CredentialsError(f"cannot write the key file {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w") as handle:
        json.dump({"name": name, "privateKey": pem}, handle, indent=2)
        handle.write("\n")
    return Credentials(name, pem)


def rest_uri(method: str, url_or_host: str, path: str | None = None) -> str:
    """The `uri` claim: "METHOD host/path", never with the query string."""
    if path is None:
        parts = urllib.parse.urlsplit(url_or_host)
        host, path = parts.netloc, parts.path
    else:
        host = url_or_host
    return f"{method.upper()} {host}{path.split('?', 1)[0]}"
