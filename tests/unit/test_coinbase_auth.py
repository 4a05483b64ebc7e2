"""CDP key handling and JWTs, verified with PyJWT against the public key."""

from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from actors.venue.coinbase_auth import Credentials, CredentialsError, rest_uri

NAME = "organizations/org-1/apiKeys/key-1"


def pem_of(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL
                             if isinstance(key, ec.EllipticCurvePrivateKey) else serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.fixture
def creds() -> Credentials:
    return Credentials(NAME, pem_of(ec.generate_private_key(ec.SECP256R1())))


def test_ws_jwt_has_the_coinbase_claims_and_verifies(creds):
    token = creds.make_jwt(now=1_795_000_000)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256" and header["kid"] == NAME and len(header["nonce"]) == 32
    claims = jwt.decode(token, creds.public_key_pem(), algorithms=["ES256"], options={"verify_exp": False,
                                                                                      "verify_nbf": False})
    assert claims == {"sub": NAME, "iss": "cdp", "nbf": 1_795_000_000, "exp": 1_795_000_120}


def test_rest_jwt_uri_has_no_query_and_each_jwt_is_fresh(creds):
    uri = rest_uri("get", "https://api.coinbase.com/api/v3/brokerage/orders/historical/batch?limit=10")
    assert uri == "GET api.coinbase.com/api/v3/brokerage/orders/historical/batch"
    first, second = creds.make_jwt(1_795_000_000, uri), creds.make_jwt(1_795_000_000, uri)
    assert first != second, "a new nonce every time"
    claims = jwt.decode(first, creds.public_key_pem(), algorithms=["ES256"], options={"verify_exp": False,
                                                                                      "verify_nbf": False})
    assert claims["uri"] == uri


def test_key_file_and_env_and_escaped_newlines(tmp_path, creds):
    pem = pem_of(ec.generate_private_key(ec.SECP256R1()))
    path = tmp_path / "cdp_api_key.json"
    path.write_text(json.dumps({"name": NAME, "privateKey": pem}))
    assert Credentials.from_key_file(path).key_name == NAME
    env = {"COINBASE_API_KEY_NAME": NAME, "COINBASE_API_PRIVATE_KEY": pem.replace("\n", "\\n")}
    assert Credentials.from_env(env).key_name == NAME
    assert Credentials.from_env({}) is None


def test_bad_keys_are_refused_without_echoing_the_secret(tmp_path):
    ed_pem = pem_of(ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(CredentialsError, match="not an EC P-256 key") as info:
        Credentials(NAME, ed_pem)
    assert "PRIVATE KEY" not in str(info.value)
    with pytest.raises(CredentialsError, match="not a PEM key"):
        Credentials(NAME, "-----BEGIN EC PRIVATE KEY-----\nnot-a-key\n-----END EC PRIVATE KEY-----")
    with pytest.raises(CredentialsError, match="set both"):
        Credentials.from_env({"COINBASE_API_KEY_NAME": NAME})
    assert "***" in repr(Credentials(NAME, pem_of(ec.generate_private_key(ec.SECP256R1()))))


def test_every_subscribe_message_carries_its_own_verifiable_jwt(creds):
    from actors.streaming.core import StreamingCore

    core = StreamingCore(("BTC-USD",), ("level2", "market_trades"), lambda: creds.make_jwt(1_795_000_000))
    messages = [json.loads(m) for m in core.subscribe_messages()]
    assert [m["channel"] for m in messages] == ["heartbeats", "level2", "market_trades"]
    tokens = [m["jwt"] for m in messages]
    assert len(set(tokens)) == len(tokens)
    for token in tokens:
        claims = jwt.decode(token, creds.public_key_pem(), algorithms=["ES256"],
                            options={"verify_exp": False, "verify_nbf": False})
        assert "uri" not in claims, "websocket JWTs carry no uri"
