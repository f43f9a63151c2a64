"""Moved to ``kit.crypto`` (one encryption module with the registry of encrypted fields); these names
stay importable from here for the apps that still do."""

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
