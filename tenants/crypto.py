"""Moved to ``kit.crypto`` (one encryption module with the registry of encrypted fields). Nothing in the
repository imports this alias any more; it stays for branches written against the old place, and goes
once they have landed."""

from kit.crypto import (  # noqa: F401
    DecryptionError,
    current_kek_version,
    decrypt,
    encrypt,
    generate_secret,
    kek_version_of,
    keyring,
    rewrap,
    secret_digest,
    secret_matches,
)
