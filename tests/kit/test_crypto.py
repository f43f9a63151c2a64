import pytest

from kit import crypto


def test_encrypted_values_are_bound_to_their_row_and_survive_kek_rotation(settings):
    sealed = crypto.encrypt(b"private key", aad=b"signing-key:k1")
    assert crypto.decrypt(sealed, aad=b"signing-key:k1") == b"private key"
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(sealed, aad=b"signing-key:k2")
    old = settings.PLATFORM_KEK
    settings.PLATFORM_KEK, settings.PLATFORM_KEK_PREVIOUS = "v2:" + "A" * 43, old
    assert crypto.decrypt(sealed, aad=b"signing-key:k1") == b"private key"
    rewrapped = crypto.rewrap(sealed, aad=b"signing-key:k1")
    assert crypto.kek_version_of(rewrapped) == "v2"
    assert crypto.decrypt(rewrapped, aad=b"signing-key:k1") == b"private key"
    settings.PLATFORM_KEK_PREVIOUS = ""
    with pytest.raises(crypto.DecryptionError, match="PLATFORM_KEK_PREVIOUS"):
        crypto.decrypt(sealed, aad=b"signing-key:k1")


def test_secret_digests_match_only_their_secret(settings):
    secret = crypto.generate_secret()
    assert len(secret) >= 43
    stored = crypto.secret_digest(secret)
    assert secret not in stored and crypto.secret_matches(secret, stored)
    assert not crypto.secret_matches(secret + "x", stored)
    assert not crypto.secret_matches(secret, "pbkdf2_sha256$1$x$y")
