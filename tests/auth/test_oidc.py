"""OidcVerifier against a real JWKS server on loopback, with real RSA and EC keys.

Each test is one attack or one failure of the identity provider; every rejection must be an
``AuthError`` with the expected code whose message never repeats the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import RSAAlgorithm
from jwt.warnings import InsecureKeyLengthWarning

import aurum.errors
from aurum.auth.oidc import AuthError, OidcVerifier, VerifiedToken
from aurum.errors import Unavailable

ISSUER = "https://login.example.test/"
AUDIENCE = "aurum-api"


@pytest.fixture
def jwks(server: Any, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> Any:
    """The endpoint reset to serve the RSA key ``rsa-1`` and the EC key ``ec-1``."""
    state = server
    state.document = {
        "keys": [state.public_jwk(rsa_key, "rsa-1"), state.public_jwk(ec_key, "ec-1")]
    }
    state.body, state.status, state.delay_s, state.gate, state.fetches = None, 200, 0.0, None, 0
    return state


@pytest.fixture
def make_verifier(jwks: Any) -> Callable[..., OidcVerifier]:
    def make(**overrides: Any) -> OidcVerifier:
        options: dict[str, Any] = {
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "jwks_url": jwks.url,
            "min_refresh_s": 60.0,
            "timeout_s": 2.0,
        }
        return OidcVerifier(**{**options, **overrides})

    return make


@pytest.fixture
def verifier(make_verifier: Callable[..., OidcVerifier]) -> OidcVerifier:
    return make_verifier()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "iat": now,
        "exp": now + 300,
        "tenant": "acme",
        "groups": ["aurum-analyst", "tenant-acme"],
    }
    return {name: value for name, value in {**base, **overrides}.items() if value is not None}


def sign(key: Any, kid: str | None, alg: str = "RS256", **overrides: Any) -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims(**overrides), key, algorithm=alg, headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: bytes) -> str:
    """A token with this raw header, an empty claim set and no signature."""
    return f"{b64(header)}.{b64(b'{}')}."


def rejected(verifier: OidcVerifier, token: str, code: str) -> str:
    """Verify ``token`` expecting ``AuthError(code)`` (``Unavailable`` for ``idp_unreachable``:
    the provider is down, the token may be fine); return its message."""
    expected = Unavailable if code == "idp_unreachable" else AuthError
    with pytest.raises(expected) as caught:
        verifier.verify(token)
    error = caught.value
    assert error.code == code, error.message
    if token:
        assert token not in error.message
        assert token not in json.dumps(error.diagnostics)
    return error.message


# --- tokens that must pass --------------------------------------------------------------------


def test_valid_rs256_token_gives_subject_tenant_and_groups(verifier, rsa_key):
    verified = verifier.verify(sign(rsa_key, "rsa-1", "RS256"))
    assert verified == VerifiedToken(
        subject="alice",
        tenant="acme",
        groups=frozenset({"aurum-analyst", "tenant-acme"}),
        claims=verified.claims,
    )
    assert verified.claims["iss"] == ISSUER
    with pytest.raises(TypeError):
        verified.claims["sub"] = "mallory"  # type: ignore[index]


def test_valid_es256_token_gives_subject_tenant_and_groups(verifier, ec_key):
    verified = verifier.verify(sign(ec_key, "ec-1", "ES256", sub="bob", aud=["other", AUDIENCE]))
    assert (verified.subject, verified.tenant, verified.groups) == (
        "bob",
        "acme",
        frozenset({"aurum-analyst", "tenant-acme"}),
    )


def test_single_string_group_and_absent_claims(verifier, rsa_key):
    one = verifier.verify(sign(rsa_key, "rsa-1", groups="aurum-admin"))
    assert one.groups == frozenset({"aurum-admin"})
    bare = verifier.verify(sign(rsa_key, "rsa-1", groups=None, tenant=None))
    assert (bare.tenant, bare.groups) == (None, frozenset())


def test_configured_claim_names_are_read(make_verifier, rsa_key):
    verifier = make_verifier(tenant_claim="org", groups_claim="roles")
    verified = verifier.verify(sign(rsa_key, "rsa-1", org="globex", roles=["aurum-ops"]))
    assert (verified.tenant, verified.groups) == ("globex", frozenset({"aurum-ops"}))


def test_leeway_lets_a_token_expired_5_s_ago_pass(make_verifier, rsa_key):
    now = int(time.time())
    token = sign(rsa_key, "rsa-1", iat=now - 600, exp=now - 5)
    assert make_verifier(leeway_s=30).verify(token).subject == "alice"
    rejected(make_verifier(leeway_s=0), token, "token_expired")


def test_concurrent_first_requests_fetch_the_jwks_once(verifier, jwks, rsa_key):
    jwks.delay_s = 0.05  # keep the first fetch in flight while the others arrive
    token = sign(rsa_key, "rsa-1")
    with ThreadPoolExecutor(max_workers=8) as pool:
        subjects = list(pool.map(lambda _: verifier.verify(token).subject, range(16)))
    assert subjects == ["alice"] * 16
    assert jwks.fetches == 1


def test_warm_verifier_does_not_fetch_again(verifier, jwks, rsa_key, ec_key):
    for _ in range(20):
        verifier.verify(sign(rsa_key, "rsa-1"))
        verifier.verify(sign(ec_key, "ec-1", "ES256"))
    assert jwks.fetches == 1


# --- forged and mismatched tokens -------------------------------------------------------------


def test_forged_signature_by_another_rsa_key_with_the_same_kid(verifier):
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    message = rejected(verifier, sign(forger, "rsa-1"), "token_invalid")
    assert message == "signature does not verify"


def test_tampered_payload_fails_the_signature(verifier, rsa_key):
    header, _, signature = sign(rsa_key, "rsa-1").split(".")
    payload = b64(json.dumps(claims(sub="root")).encode())
    assert rejected(verifier, f"{header}.{payload}.{signature}", "token_invalid") == (
        "signature does not verify"
    )


def test_alg_none_unsigned_token(verifier):
    header = b64(json.dumps({"alg": "none", "kid": "rsa-1", "typ": "JWT"}).encode())
    token = f"{header}.{b64(json.dumps(claims()).encode())}."
    assert "alg none" in rejected(verifier, token, "token_invalid")


def test_hs256_keyed_with_the_rsa_public_key_pem(verifier, rsa_key):
    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = (
        f"{b64(json.dumps({'alg': 'HS256', 'kid': 'rsa-1', 'typ': 'JWT'}).encode())}"
        f".{b64(json.dumps(claims()).encode())}"
    )
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64(mac)}"
    assert "HMAC" in rejected(verifier, token, "token_invalid")


@pytest.mark.parametrize(
    ("signer", "kid", "alg"),
    [("ec", "rsa-1", "ES256"), ("rsa", "ec-1", "RS256")],
    ids=["es256-token-naming-the-rsa-key", "rs256-token-naming-the-ec-key"],
)
def test_alg_and_key_type_confusion(verifier, rsa_key, ec_key, signer, kid, alg):
    token = sign(ec_key if signer == "ec" else rsa_key, kid, alg)
    assert f"cannot verify {alg}" in rejected(verifier, token, "token_invalid")


def test_header_alg_must_equal_the_alg_the_jwk_declares(make_verifier, jwks, rsa_key):
    jwks.document["keys"][0]["alg"] = "RS256"
    verifier = make_verifier(algorithms=["RS256", "PS256"])
    assert verifier.verify(sign(rsa_key, "rsa-1", "RS256")).subject == "alice"
    assert "cannot verify PS256" in rejected(
        verifier, sign(rsa_key, "rsa-1", "PS256"), "token_invalid"
    )


def test_an_allowed_alg_other_than_rs256_works_with_a_jwk_without_alg(make_verifier, rsa_key):
    verifier = make_verifier(algorithms=["RS256", "PS256"])
    assert verifier.verify(sign(rsa_key, "rsa-1", "PS256")).subject == "alice"


def test_algorithm_outside_the_allowed_list(verifier, rsa_key):
    message = rejected(verifier, sign(rsa_key, "rsa-1", "RS512"), "token_invalid")
    assert message == "token algorithm is not in the allowed list"


def test_token_without_kid_is_accepted_only_when_the_jwks_holds_one_key(
    make_verifier, jwks, rsa_key
):
    token = sign(rsa_key, None)
    assert "several keys" in rejected(make_verifier(), token, "token_invalid")
    jwks.document["keys"] = [jwks.public_jwk(rsa_key, "rsa-1")]
    assert make_verifier().verify(token).subject == "alice"


def test_weak_rsa_key_of_the_issuer_is_refused(make_verifier, jwks):
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    jwks.document["keys"].append(jwks.public_jwk(weak, "weak-1"))
    with pytest.warns(InsecureKeyLengthWarning):  # PyJWT warns when signing, too
        token = sign(weak, "weak-1")
    assert "too weak" in rejected(make_verifier(), token, "token_invalid")


# --- claims -----------------------------------------------------------------------------------


def test_expired_token(verifier, rsa_key):
    now = int(time.time())
    token = sign(rsa_key, "rsa-1", iat=now - 3600, exp=now - 60)
    assert rejected(verifier, token, "token_expired") == "token has expired"


def test_not_yet_valid_nbf_in_the_future(verifier, rsa_key):
    token = sign(rsa_key, "rsa-1", nbf=int(time.time()) + 120)
    assert "not yet valid" in rejected(verifier, token, "token_invalid")


def test_wrong_audience(verifier, rsa_key):
    token = sign(rsa_key, "rsa-1", aud=["another-api"])
    assert "audience mismatch" in rejected(verifier, token, "token_invalid")


def test_wrong_issuer(verifier, rsa_key):
    token = sign(rsa_key, "rsa-1", iss="https://evil.example.test/")
    assert "issuer mismatch" in rejected(verifier, token, "token_invalid")


@pytest.mark.parametrize("claim", ["exp", "sub", "iss", "aud"])
def test_missing_required_claim(verifier, rsa_key, claim):
    token = sign(rsa_key, "rsa-1", **{claim: None})
    assert rejected(verifier, token, "token_invalid") == f"required claim '{claim}' is missing"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sub": ""}, "sub claim is empty"),
        ({"sub": 42}, "sub claim is not a string"),
        ({"exp": "tomorrow"}, "malformed token"),
        ({"groups": [1, 2]}, "groups claim is not a string or a list of strings"),
        ({"groups": {"admin": True}}, "groups claim is not a string or a list of strings"),
        ({"tenant": ["acme", "globex"]}, "tenant claim is not a string"),
    ],
    ids=["empty-sub", "numeric-sub", "text-exp", "numeric-groups", "object-groups", "list-tenant"],
)
def test_malformed_claims(verifier, rsa_key, overrides, message):
    assert message in rejected(verifier, sign(rsa_key, "rsa-1", **overrides), "token_invalid")


# --- key rotation and the JWKS endpoint -------------------------------------------------------


def test_unknown_kid_refetches_once_then_fails(verifier, jwks, rsa_key):
    assert verifier.verify(sign(rsa_key, "rsa-1")).subject == "alice"
    assert "kid" in rejected(verifier, sign(rsa_key, "nobody"), "token_key_unknown")
    assert jwks.fetches == 2


def test_key_rotation_new_kid_verifies_after_one_refetch(verifier, jwks, rsa_key):
    verifier.verify(sign(rsa_key, "rsa-1"))
    rotated = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks.document["keys"] = [jwks.public_jwk(rotated, "rsa-2")]
    assert verifier.verify(sign(rotated, "rsa-2")).subject == "alice"
    assert verifier.verify(sign(rotated, "rsa-2")).subject == "alice"
    assert jwks.fetches == 2


def test_repeated_unknown_kids_do_not_refetch_every_time(verifier, jwks, rsa_key):
    verifier.verify(sign(rsa_key, "rsa-1"))
    for _ in range(50):
        rejected(verifier, sign(rsa_key, uuid.uuid4().hex), "token_key_unknown")
    assert jwks.fetches == 2


def test_unknown_kid_may_refetch_again_after_min_refresh_s(make_verifier, jwks, rsa_key):
    verifier = make_verifier(min_refresh_s=0.05)
    rejected(verifier, sign(rsa_key, "nobody"), "token_key_unknown")
    rejected(verifier, sign(rsa_key, "nobody"), "token_key_unknown")
    assert jwks.fetches == 2
    time.sleep(0.06)
    rejected(verifier, sign(rsa_key, "nobody"), "token_key_unknown")
    assert jwks.fetches == 3


def test_jwks_server_down_is_idp_unreachable(make_verifier, rsa_key):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    verifier = make_verifier(jwks_url=f"http://127.0.0.1:{port}/jwks.json")
    message = rejected(verifier, sign(rsa_key, "rsa-1"), "idp_unreachable")
    assert message == "JWKS endpoint unreachable: connection failed"


def test_jwks_server_too_slow_is_idp_unreachable(make_verifier, jwks, rsa_key):
    jwks.delay_s = 0.3
    message = rejected(make_verifier(timeout_s=0.1), sign(rsa_key, "rsa-1"), "idp_unreachable")
    assert message == "JWKS endpoint did not answer within 0.1 s"


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (500, b"{}", "JWKS endpoint answered HTTP 500"),
        (302, b"", "JWKS endpoint answered HTTP 302"),
        (200, b"<html>login</html>", "JWKS response is not JSON"),
        (200, b"[1, 2]", "JWKS response is not a JSON object"),
        (200, b'{"keys": "none"}', "JWKS response has no 'keys' list"),
        (200, b'{"keys": []}', "JWKS holds no usable key"),
        (200, b'{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "rsa-1"}]}', "no usable key"),
    ],
    ids=["http-500", "redirect", "html", "json-array", "keys-not-list", "no-keys", "hmac-key"],
)
def test_unusable_jwks_response_is_idp_unreachable(
    make_verifier, jwks, rsa_key, status, body, message
):
    jwks.status, jwks.body = status, body
    assert message in rejected(make_verifier(), sign(rsa_key, "rsa-1"), "idp_unreachable")


def test_private_key_published_by_mistake_is_not_used(make_verifier, jwks, rsa_key):
    jwks.document["keys"] = [{**RSAAlgorithm.to_jwk(rsa_key, as_dict=True), "kid": "rsa-1"}]
    assert "no usable key" in rejected(make_verifier(), sign(rsa_key, "rsa-1"), "idp_unreachable")


def test_failed_fetch_is_not_retried_on_every_request(make_verifier, jwks, rsa_key):
    jwks.status = 503
    verifier = make_verifier()
    rejected(verifier, sign(rsa_key, "rsa-1"), "idp_unreachable")
    assert "retrying in" in rejected(verifier, sign(rsa_key, "rsa-1"), "idp_unreachable")
    assert jwks.fetches == 1


def test_keys_held_are_kept_while_the_idp_is_down(make_verifier, jwks, rsa_key):
    verifier = make_verifier(jwks_cache_s=0.05, min_refresh_s=0.05)
    verifier.verify(sign(rsa_key, "rsa-1"))
    jwks.status = 503
    time.sleep(0.06)
    assert verifier.verify(sign(rsa_key, "rsa-1")).subject == "alice"
    assert jwks.fetches == 2


def test_periodic_refetch_does_not_hold_up_other_requests(make_verifier, jwks, rsa_key):
    verifier = make_verifier(jwks_cache_s=0.05)
    token = sign(rsa_key, "rsa-1")
    verifier.verify(token)
    time.sleep(0.06)
    jwks.gate = threading.Event()
    refresher = threading.Thread(target=verifier.verify, args=(token,))
    refresher.start()
    deadline = time.monotonic() + 2
    while jwks.fetches < 2 and time.monotonic() < deadline:
        time.sleep(0.001)  # until the refetch waits at the gate, holding the lock
    started = time.monotonic()
    assert verifier.verify(token).subject == "alice"
    assert time.monotonic() - started < 0.5
    jwks.gate.set()
    refresher.join()
    assert jwks.fetches == 2


# --- garbage ----------------------------------------------------------------------------------


MALFORMED = "malformed token: not three base64url segments"


@pytest.mark.parametrize(
    ("token", "message"),
    [
        pytest.param("", "token is empty", id="empty"),
        pytest.param("a.b", MALFORMED, id="two-segments"),
        pytest.param("a.b.c", MALFORMED, id="junk-segments"),
        pytest.param("x" * 20 * 1024, "longer than 16384", id="20-kib"),
        pytest.param(unsigned(b'{"alg": "RS256", "kid": "\xc3\x28"}'), MALFORMED, id="non-utf8"),
        pytest.param(unsigned(b"[1]"), MALFORMED, id="header-not-object"),
        pytest.param(unsigned(b"{}"), "not in the allowed list", id="header-without-alg"),
        pytest.param(unsigned(b'{"alg": "RS256", "kid": 7}'), "kid not a string", id="int-kid"),
        pytest.param(unsigned(b'{"alg": ["RS256"]}'), "not in the allowed list", id="alg-list"),
        pytest.param("é.é.é", "outside ASCII", id="non-ascii"),
        pytest.param("\ud800.a.b", "outside ASCII", id="lone-surrogate"),
        pytest.param("Bearer abc.def.ghi", MALFORMED, id="scheme-prefix"),
    ],
)
def test_garbage_token_is_token_invalid(verifier, jwks, token, message):
    assert message in rejected(verifier, token, "token_invalid")
    assert jwks.fetches == 0  # refused before any key is looked up


def test_signed_non_utf8_payload_is_token_invalid(verifier, rsa_key):
    token = jwt.api_jws.PyJWS().encode(b"\xc3\x28", rsa_key, "RS256", headers={"kid": "rsa-1"})
    assert "malformed token" in rejected(verifier, token, "token_invalid")


def test_rejections_are_401_and_an_unreachable_provider_503():
    assert AuthError is aurum.errors.AuthError and AuthError.http_status == 401
    assert Unavailable.http_status == 503


# --- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "algorithms", [["HS256"], ["none"], ["RS256", "HS512"], [], ["EdDSA"]], ids=str
)
def test_only_rsa_and_ecdsa_algorithms_can_be_configured(jwks, algorithms):
    with pytest.raises(aurum.errors.ConfigError, match="algorithms"):
        OidcVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks.url, algorithms=algorithms)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"jwks_url": "file:///etc/passwd"}, "http"),
        ({"issuer": ""}, "issuer"),
        ({"audience": ""}, "audience"),
        ({"jwks_cache_s": 0}, "jwks_cache_s"),
        ({"leeway_s": -1}, "leeway_s"),
    ],
)
def test_unworkable_settings_are_config_errors(make_verifier, overrides, match):
    with pytest.raises(aurum.errors.ConfigError, match=match):
        make_verifier(**overrides)
