"""The built-in exchange's check of the JWT on a private (`user`, `futures_balance_summary`) subscribe.

Owns what counts as an acceptable token for now: three dot-separated base64url parts whose header
says `alg` ES256 and whose claims carry a numeric `exp` later than the exchange's clock. The
signature is NOT verified yet: full ES256 verification against registered public keys comes with
orders over REST (the next issue). Until then any well-formed, unexpired ES256 JWT is accepted.

Pure: time comes in as an argument. Must never log a token.
"""

from __future__ import annotations

import jwt

AUTH_FAILURE = "authentication failure"  # Coinbase's error frame message, word for word
ALGORITHM = "ES256"


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
