"""DPoP proofs (RFC 9449) for calls that send a DPoP-bound access token.

In the data flow: called by the proxy view (:mod:`django_bff.proxy.view`) and
the auth objects (:mod:`django_bff.http`) once a retriever gave a DPoP-bound
token, just before the upstream call. No I/O.

A retriever that returns :class:`~django_bff.retrievers.DPoPTokenResult` gives the
access token and the private key it is bound to (a JWK, as JSON). Every call
then carries ``Authorization: DPoP <token>`` and a fresh ``DPoP`` proof: a JWT
signed with that key, naming the method and URL (without query), with a unique
``jti``, ``iat`` and the token's hash (``ath``). When the API answers 401 with
``WWW-Authenticate: DPoP error="use_dpop_nonce"`` and a ``DPoP-Nonce`` header,
the proxy sends the call once more with the nonce in the proof (only when the
body can be sent twice).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt

from django_bff.clock import clock

__all__ = ["make_proof", "wants_nonce", "jwk_thumbprint", "KEY_ALGORITHMS", "new_key", "public_jwk"]

_PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
_DEFAULT_ALG = {"EC": "ES256", "RSA": "PS256", "OKP": "EdDSA"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_proof(
    private_jwk: str, method: str, url: str, access_token: str | None = None, nonce: str | None = None
) -> str:
    """A DPoP proof JWT for one request."""
    jwk: dict[str, Any] = json.loads(private_jwk)
    alg = jwk.get("alg") or _DEFAULT_ALG.get(jwk.get("kty", ""), "ES256")
    key = jwt.PyJWK(jwk, algorithm=alg)
    public = {k: v for k, v in jwk.items() if k not in _PRIVATE_MEMBERS}
    parts = urlsplit(url)
    claims: dict[str, Any] = {
        "jti": secrets.token_urlsafe(16),
        "htm": method.upper(),
        "htu": urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")),
        "iat": int(clock.time()),
    }
    if access_token:
        claims["ath"] = _b64(hashlib.sha256(access_token.encode("ascii")).digest())
    if nonce:
        claims["nonce"] = nonce
    return jwt.encode(claims, key.key, algorithm=alg, headers={"typ": "dpop+jwt", "jwk": public})


def wants_nonce(status: int, headers: Any) -> str | None:
    """The nonce an API asked for (RFC 9449 section 9), else None."""
    nonce = headers.get("DPoP-Nonce")
    challenge = headers.get("WWW-Authenticate", "")
    if status == 401 and nonce and "use_dpop_nonce" in challenge:
        return str(nonce)
    return None


#: RFC 7638 section 3.2: the members a thumbprint covers, per key type.
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}


def jwk_thumbprint(jwk_json: str) -> str:
    """The JWK SHA-256 thumbprint (RFC 7638) of a key, as DPoP's ``jkt`` names it. Never the key itself."""
    jwk: dict[str, Any] = json.loads(jwk_json)
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None:
        raise ValueError("unsupported key type")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return _b64(hashlib.sha256(canonical.encode()).digest())


# --- keys: the token service binds tokens to them (django_bff.handoff, django_bff.token_manager) ---

#: The algorithms a DPoP key can be made for (``BFF["DPOP"]["ALGORITHM"]``), each with what makes its key.
KEY_ALGORITHMS = ("ES256", "PS256", "RS256", "EdDSA")


def new_key(alg: str = "ES256") -> str:
    """A new private key for ``alg``, as a JWK in JSON (with its ``alg``). Keep it encrypted: it holds ``d``."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

    if alg == "ES256":
        text = ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()))
    elif alg in ("PS256", "RS256"):
        text = RSAAlgorithm.to_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    elif alg == "EdDSA":
        text = OKPAlgorithm.to_jwk(ed25519.Ed25519PrivateKey.generate())
    else:
        raise ValueError(f"no DPoP key for the algorithm {alg!r}; use one of {', '.join(KEY_ALGORITHMS)}")
    jwk: dict[str, Any] = json.loads(text)
    jwk.pop("key_ops", None)  # PyJWT names the private key's use; the public half in a proof must not
    jwk["alg"] = alg
    return json.dumps(jwk, separators=(",", ":"))


def public_jwk(private_jwk: str) -> dict[str, Any]:
    """The public half of a private JWK (JSON): what a proof's header carries."""
    jwk: dict[str, Any] = json.loads(private_jwk)
    return {k: v for k, v in jwk.items() if k not in _PRIVATE_MEMBERS}
