"""Key generation (oauth.signing.keys.generate) and the test session's key pool (tests/conftest.py SigningKeyPool)."""

import base64
import hashlib
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from kit import crypto
from oauth.models import KeyAlgorithm, SigningKey
from oauth.signing import keys

# RFC 7638 section 3.2: the required public members of each key type, in lexicographic order.
THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


def rfc7638_thumbprint(public: dict) -> str:
    members = {name: public[name] for name in THUMBPRINT_MEMBERS[public["kty"]]}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.mark.parametrize("alg", [KeyAlgorithm.RS256, KeyAlgorithm.ES256])
def test_generated_key_publishes_only_public_members_under_its_thumbprint(alg):
    kid, encrypted, public = keys.generate(alg)
    assert kid == public["kid"] == rfc7638_thumbprint(public)
    assert public["alg"] == alg and public["use"] == "sig" and not PRIVATE_MEMBERS & public.keys()
    pem = crypto.decrypt(encrypted, aad=f"signing-key:{kid}".encode())
    private = serialization.load_pem_private_key(pem, password=None)
    token = jwt.encode({"sub": "x"}, private, algorithm=alg)
    assert jwt.decode(token, jwt.PyJWK(public).key, algorithms=[alg]) == {"sub": "x"}


def test_an_unsupported_algorithm_is_refused():
    with pytest.raises(ValueError, match="unsupported signing algorithm 'HS256'"):
        keys.generate("HS256")


@pytest.mark.django_db
def test_the_test_key_pool_never_hands_out_a_key_twice_in_a_test_nor_one_held_by_a_row(_signing_key_pool,
                                                                                       make_tenant):
    first, second = make_tenant("alpha"), make_tenant("bravo")
    kids = {key.kid for key in SigningKey.objects.filter(tenant__in=[first, second])}
    assert len(kids) == 2
    _signing_key_pool.new_test()  # as if a new test began while these rows still exist
    third = make_tenant("charlie")
    assert SigningKey.objects.get(tenant=third).kid not in kids
