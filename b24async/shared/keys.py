"""How the shared components name their Redis keys: one prefix, and hashes instead of values.

A key name is visible to anyone who can run ``SCAN`` or ``MONITOR`` and lands in slow logs and
metrics, so it never holds a secret: credentials, tokens (and, for uniformity, member IDs) are
hashed into it.
"""

from __future__ import annotations

import hashlib

__all__ = ["KEY_PREFIX", "digest"]

#: Every key this package writes starts with this.
KEY_PREFIX = "b24async:v1"


def digest(*parts: str) -> str:
    """A short SHA-256 hex digest of ``parts`` (96 bits: collisions are not a concern)."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:24]
