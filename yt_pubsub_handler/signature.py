"""``X-Hub-Signature``: signing and verifying WebSub content distribution requests.

The WebSub recommendation (section 8) lets the hub sign with sha1, sha256, sha384 or sha512; YouTube's hub uses
sha1. Each subscription gets its own secret, derived from ``WEBSUB_SECRET`` and the topic with HMAC, so the
database never holds a secret: a leaked database dump cannot forge notifications, and rotating ``WEBSUB_SECRET``
(then re-subscribing) rotates every per-topic secret at once.
"""

from __future__ import annotations

import hashlib
import hmac

ALGORITHMS = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}

# The spec: "the secret MUST be less than 200 bytes in length". A hex SHA-256 digest is 64.
MAX_SECRET_BYTES = 199


def derive_secret(master_secret: str, topic_url: str) -> str:
    """The ``hub.secret`` for one topic: HMAC-SHA256(WEBSUB_SECRET, topic), hex.

    Deterministic, so the callback can recompute it from the stored topic instead of reading it from a table.
    """
    if not master_secret:
        raise ValueError("WEBSUB_SECRET is empty: set it (any long random string) before subscribing or verifying")
    return hmac.new(master_secret.encode("utf-8"), topic_url.encode("utf-8"), hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str, algorithm: str = "sha1") -> str:
    """The ``X-Hub-Signature`` header value a hub would send for ``body`` (tests and dev/seed.py use it)."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unsupported signature algorithm {algorithm!r}: use one of {sorted(ALGORITHMS)}")
    digest = hmac.new(secret.encode("utf-8"), body, ALGORITHMS[algorithm]).hexdigest()
    return f"{algorithm}={digest}"


def verify(body: bytes, header: str | None, secret: str) -> bool:
    """True only when ``header`` is a well-formed signature of ``body`` with ``secret``.

    Anything unexpected (missing header, unknown method, non-hex or non-ASCII digest) is simply ``False``: the
    caller ignores such messages, it never needs to tell the sender why.
    """
    if not header or not secret:
        return False
    method, sep, given = header.strip().partition("=")
    if not sep:
        return False
    digest_type = ALGORITHMS.get(method.strip().lower())
    if digest_type is None:
        return False
    expected = hmac.new(secret.encode("utf-8"), body, digest_type).hexdigest()
    try:
        given_bytes = given.strip().lower().encode("ascii")
    except UnicodeEncodeError:
        return False
    # Constant time: the comparison must not reveal how many leading characters were right.
    return hmac.compare_digest(expected.encode("ascii"), given_bytes)
