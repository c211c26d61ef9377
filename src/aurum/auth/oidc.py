"""Verify OIDC bearer tokens: JWTs signed by the identity provider (IdP), checked locally.

What ``OidcVerifier.verify`` checks, in order, and why:

* **Size and alphabet first.** A token over 16 KiB, or with characters outside ASCII, is refused
  before any parsing, so an oversized or hostile header costs nothing.
* **Asymmetric algorithms only.** The allowed list is fixed at construction and may hold only RSA
  (``RS*``, ``PS*``) and ECDSA (``ES*``) algorithms. ``none`` and ``HS*`` cannot be configured:
  the classic forgeries are an unsigned token, and an HMAC token keyed with the public key.
* **The key comes from the issuer's JWKS, named by ``kid``, and must fit the algorithm.** An RSA
  key never verifies an ``ES256`` token (nor the reverse), and a JWK that declares ``alg`` verifies
  only that algorithm. A token without ``kid`` is accepted only while the JWKS holds one key.
  Header fields that name other keys (``jku``, ``x5u``, ``jwk``) are ignored: keys come from the
  configured URL only. RSA keys under 2048 bits are refused.
* **Claims.** ``iss`` equals the issuer, ``aud`` contains the audience, ``exp`` is present and not
  past, ``nbf`` and ``iat`` (both optional) are not in the future, each with ``leeway_s`` of clock
  skew, and ``sub`` is a non-empty string. A tenant or groups claim of the wrong shape rejects the
  token rather than being guessed at: both decide what the caller may see.

Keys are fetched on first use and cached for ``jwks_cache_s``, so a warm verifier does no I/O.
A ``kid`` missing from the cache triggers one refetch, since the IdP may have rotated its keys,
but at most one such forced refetch per ``min_refresh_s``, so made-up ``kid`` values cannot
hammer the IdP. While one request refetches, the others go on with the keys held. When a fetch
fails the verifier keeps the keys it has and tries again after ``min_refresh_s``; holding no keys
at all, it fails fast with ``idp_unreachable`` until then, so an IdP outage does not make every
request wait ``timeout_s``. The price: a key the IdP has withdrawn keeps verifying until the IdP
answers again, rather than everyone being locked out while it is down.

Every failure is an ``AuthError`` whose message says what failed but never repeats the token or
any other text chosen by the caller. Its ``code`` is one of:

* ``token_invalid``: malformed or oversized; algorithm not allowed or not fitting the key; bad
  signature; wrong issuer or audience; not yet valid; a required claim missing or malformed;
* ``token_expired``: ``exp`` is past, beyond the leeway;
* ``token_key_unknown``: no key in the issuer's JWKS has the token's ``kid``, even after a refetch;
* ``idp_unreachable``: the JWKS cannot be fetched (connection, timeout, HTTP error, not JSON) or
  holds no usable key.

PyJWT parses the token and checks the signature and the registered claims; its ``PyJWKClient``
fetches the JWKS (http(s) only, no redirects, with a timeout). Caching and refetching live here
rather than in ``PyJWKClient``, whose own cache skips keys without ``kid``, binds an RSA key that
declares no ``alg`` to RS256 only, starts its refetch cooldown at the first fetch (so a key rotated
just after start-up waits out the whole cooldown), stops using every key once its cache expires
while the IdP is down, and lets a non-JSON response escape as a bare ``ValueError``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.error import HTTPError

import jwt
from jwt.exceptions import (
    DecodeError,
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAudienceError,
    InvalidIssuedAtError,
    InvalidIssuerError,
    InvalidKeyError,
    InvalidSignatureError,
    InvalidSubjectError,
    MissingRequiredClaimError,
    PyJWKClientConnectionError,
    PyJWKClientError,
    PyJWTError,
)

from aurum.errors import AuthError, ConfigError, Unavailable

__all__ = ["ASYMMETRIC_ALGORITHMS", "MAX_TOKEN_CHARS", "AuthError", "OidcVerifier", "VerifiedToken"]

log = logging.getLogger(__name__)

MAX_TOKEN_CHARS = 16 * 1024
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
_REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]

# The first class an exception is an instance of decides the answer, so subclasses come first.
_REJECTIONS: tuple[tuple[type[PyJWTError], str, str], ...] = (
    (ExpiredSignatureError, "token_expired", "token has expired"),
    (ImmatureSignatureError, "token_invalid", "token is not yet valid (nbf or iat in the future)"),
    (InvalidAudienceError, "token_invalid", "audience mismatch: the token is not for this API"),
    (InvalidIssuerError, "token_invalid", "issuer mismatch: the token is from another issuer"),
    (InvalidSignatureError, "token_invalid", "signature does not verify"),
    (InvalidSubjectError, "token_invalid", "sub claim is not a string"),
    (InvalidIssuedAtError, "token_invalid", "iat claim is not a number"),
    (InvalidKeyError, "token_invalid", "the issuer's key is too weak (RSA under 2048 bits)"),
    (
        DecodeError,
        "token_invalid",
        "malformed token: payload not a JSON object, exp or nbf not a number, or bad header",
    ),
)


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """What a verified token says about its bearer."""

    subject: str
    tenant: str | None
    groups: frozenset[str]
    claims: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class _KeySet:
    """The issuer's usable keys: one entry per (kid, algorithm) pair a key can verify."""

    keys: Mapping[tuple[str | None, str], jwt.PyJWK]
    kids: frozenset[str | None]
    count: int


class OidcVerifier:
    """Verifies bearer JWTs of one issuer and audience against the issuer's JWKS.

    Thread-safe: one instance serves every request. Usage::

        verifier = OidcVerifier(
            issuer="https://login.example.com/",
            audience="aurum-api",
            jwks_url="https://login.example.com/.well-known/jwks.json",
        )
        token = verifier.verify(bearer)  # AuthError when the token is not acceptable
        token.subject, token.tenant, token.groups
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str,
        algorithms: Sequence[str] = ("RS256", "ES256"),
        leeway_s: float = 30.0,
        jwks_cache_s: float = 300.0,
        timeout_s: float = 5.0,
        min_refresh_s: float = 10.0,
        tenant_claim: str = "tenant",
        groups_claim: str = "groups",
    ) -> None:
        unsafe = sorted(set(algorithms) - ASYMMETRIC_ALGORITHMS)
        if not algorithms or unsafe:
            raise ConfigError(
                message=f"OIDC algorithms must be a non-empty subset of "
                f"{sorted(ASYMMETRIC_ALGORITHMS)}; not allowed: {unsafe}"
            )
        for name, text in (
            ("issuer", issuer),
            ("audience", audience),
            ("tenant_claim", tenant_claim),
            ("groups_claim", groups_claim),
        ):
            if not text:
                raise ConfigError(message=f"OIDC {name} must not be empty")
        for name, seconds, positive in (
            ("leeway_s", leeway_s, False),
            ("jwks_cache_s", jwks_cache_s, True),
            ("timeout_s", timeout_s, True),
            ("min_refresh_s", min_refresh_s, False),
        ):
            if not (seconds > 0 if positive else seconds >= 0):
                raise ConfigError(message=f"OIDC {name} must be {'> 0' if positive else '>= 0'}")
        try:
            self._client = jwt.PyJWKClient(
                jwks_url,
                cache_jwk_set=False,
                timeout=timeout_s,
                headers={"Accept": "application/json", "User-Agent": "aurum"},
            )
        except PyJWKClientError as exc:
            raise ConfigError(message=f"OIDC jwks_url must be http(s): {jwks_url!r}") from exc
        self._issuer = issuer
        self._audience = audience
        self._jwks_url = jwks_url
        self._algorithms = tuple(dict.fromkeys(algorithms))
        self._leeway_s = leeway_s
        self._jwks_cache_s = jwks_cache_s
        self._timeout_s = timeout_s
        self._min_refresh_s = min_refresh_s
        self._tenant_claim = tenant_claim
        self._groups_claim = groups_claim
        self._decoder = jwt.PyJWT({"require": _REQUIRED_CLAIMS, "enforce_minimum_key_length": True})
        self._lock = threading.Lock()
        self._keys: _KeySet | None = None
        self._fetch_due_at = float("-inf")
        self._forced_fetch_allowed_at = float("-inf")
        self._fetch_failure = ""

    def verify(self, token: str) -> VerifiedToken:
        """Return who the token is for, or raise ``AuthError`` saying why it is not acceptable."""
        if not isinstance(token, str) or not token:
            raise AuthError("token_invalid", "token is empty")
        if len(token) > MAX_TOKEN_CHARS:
            raise AuthError("token_invalid", f"token is longer than {MAX_TOKEN_CHARS} characters")
        if not token.isascii():
            raise AuthError("token_invalid", "token has characters outside ASCII")
        try:
            header = jwt.get_unverified_header(token)
        except DecodeError as exc:
            raise AuthError(
                "token_invalid", "malformed token: not three base64url segments with a JSON header"
            ) from exc
        except PyJWTError as exc:
            raise AuthError(
                "token_invalid", "malformed token header: kid not a string, or unsupported crit"
            ) from exc
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise AuthError(
                "token_invalid", _refusal_of(alg), allowed_algorithms=list(self._algorithms)
            )
        key = self._key_for(header.get("kid"), alg)
        try:
            claims = self._decoder.decode(
                token,
                key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway_s,
            )
        except MissingRequiredClaimError as exc:
            raise AuthError("token_invalid", f"required claim {exc.claim!r} is missing") from exc
        except PyJWTError as exc:
            code, message = next(
                ((code, message) for cls, code, message in _REJECTIONS if isinstance(exc, cls)),
                ("token_invalid", "token is invalid"),
            )
            raise AuthError(code, message) from exc
        if not claims["sub"]:
            raise AuthError("token_invalid", "sub claim is empty")
        return VerifiedToken(
            subject=claims["sub"],
            tenant=self._tenant_of(claims),
            groups=self._groups_of(claims),
            claims=MappingProxyType(claims),
        )

    def _tenant_of(self, claims: Mapping[str, Any]) -> str | None:
        tenant = claims.get(self._tenant_claim)
        if tenant is None or isinstance(tenant, str):
            return tenant
        raise AuthError("token_invalid", f"{self._tenant_claim} claim is not a string")

    def _groups_of(self, claims: Mapping[str, Any]) -> frozenset[str]:
        groups = claims.get(self._groups_claim)
        if groups is None:
            return frozenset()
        if isinstance(groups, str):
            return frozenset((groups,))
        if isinstance(groups, list) and all(isinstance(group, str) for group in groups):
            return frozenset(groups)
        raise AuthError(
            "token_invalid", f"{self._groups_claim} claim is not a string or a list of strings"
        )

    def _key_for(self, kid: str | None, alg: str) -> jwt.PyJWK:
        keys = self._current_keys()
        if kid is None:
            if keys.count != 1:
                raise AuthError(
                    "token_invalid", "token has no kid and the issuer publishes several keys"
                )
            (kid,) = keys.kids
        elif kid not in keys.kids:
            keys = self._refetch()
            if kid not in keys.kids:
                raise AuthError(
                    "token_key_unknown", "no key in the issuer's JWKS has the token's kid"
                )
        key = keys.keys.get((kid, alg))
        if key is None:
            raise AuthError(
                "token_invalid",
                f"the key named by the token cannot verify {alg}: its type or declared alg differs",
            )
        return key

    def _current_keys(self) -> _KeySet:
        keys = self._keys
        if keys is not None and time.monotonic() < self._fetch_due_at:
            return keys
        # A fetch is due: one thread fetches while the others go on with the keys held, if any.
        if keys is None:
            self._lock.acquire()
        elif not self._lock.acquire(blocking=False):
            return keys
        try:
            now = time.monotonic()
            if now >= self._fetch_due_at:
                return self._fetch(now)
            if self._keys is None:  # the last fetch failed: wait before asking the IdP again
                raise _unreachable(
                    f"{self._fetch_failure}; retrying in {self._fetch_due_at - now:.0f} s",
                )
            return self._keys
        finally:
            self._lock.release()

    def _refetch(self) -> _KeySet:
        """Fetch the JWKS now unless a forced fetch happened within ``min_refresh_s``."""
        with self._lock:
            now = time.monotonic()
            if self._keys is not None and now < self._forced_fetch_allowed_at:
                return self._keys
            self._forced_fetch_allowed_at = now + self._min_refresh_s
            return self._fetch(now)

    def _fetch(self, now: float) -> _KeySet:
        """Fetch the JWKS; when that fails, keep the keys held and try again after a pause."""
        try:
            keys = self._load_keys()
        except Unavailable as exc:
            self._fetch_due_at = now + self._min_refresh_s
            self._fetch_failure = exc.message
            log.warning("OIDC JWKS %s: %s", self._jwks_url, exc.message)
            if self._keys is None:
                raise
            return self._keys
        self._keys = keys
        self._fetch_due_at = now + self._jwks_cache_s
        return keys

    def _load_keys(self) -> _KeySet:
        try:
            document = self._client.fetch_data()
        except PyJWKClientConnectionError as exc:
            raise _unreachable(self._connection_failure(exc.__cause__)) from exc
        except PyJWKClientError as exc:
            raise _unreachable("JWKS response is not a JSON object") from exc
        except ValueError as exc:
            raise _unreachable("JWKS response is not JSON") from exc
        except OSError as exc:
            raise _unreachable("JWKS connection failed while reading") from exc
        jwks = document.get("keys")
        if not isinstance(jwks, list):
            raise _unreachable("JWKS response has no 'keys' list")
        keys: dict[tuple[str | None, str], jwt.PyJWK] = {}
        kids: set[str | None] = set()
        count = 0
        for jwk in jwks:
            # Private keys published by mistake are not used.
            if not isinstance(jwk, dict) or jwk.get("use") not in (None, "sig") or "d" in jwk:
                continue
            kid = jwk.get("kid")
            if kid is not None and not isinstance(kid, str):
                continue
            usable = False
            for alg in self._algorithms:
                if jwk.get("alg", alg) != alg:
                    continue
                try:
                    key = jwt.PyJWK(jwk, algorithm=alg)
                    key.Algorithm.prepare_key(key.key)  # refuses a curve that does not fit alg
                except PyJWTError:
                    continue
                keys.setdefault((kid, alg), key)
                usable = True
            if usable:
                kids.add(kid)
                count += 1
        if not count:
            raise _unreachable(
                f"JWKS holds no usable key for the allowed algorithms {list(self._algorithms)}",
            )
        return _KeySet(keys=keys, kids=frozenset(kids), count=count)

    def _connection_failure(self, cause: BaseException | None) -> str:
        if isinstance(cause, HTTPError):
            return f"JWKS endpoint answered HTTP {cause.code}"
        reason = getattr(cause, "reason", cause)  # a URLError carries the socket error as .reason
        if isinstance(reason, TimeoutError):
            return f"JWKS endpoint did not answer within {self._timeout_s:g} s"
        return "JWKS endpoint unreachable: connection failed"


def _unreachable(message: str) -> Unavailable:
    """The identity provider's keys cannot be had: 503, not a bad credential (401)."""
    return Unavailable("idp_unreachable", message, dependency="the identity provider")


def _refusal_of(alg: object) -> str:
    if alg == "none":
        return "unsigned token (alg none) is not accepted"
    if isinstance(alg, str) and alg.startswith("HS"):
        return "symmetric (HMAC) algorithm is not accepted"
    return "token algorithm is not in the allowed list"
