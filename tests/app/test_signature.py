"""X-Hub-Signature: every algorithm the WebSub spec names, and everything else refused."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from yt_pubsub_handler.signature import ALGORITHMS, MAX_SECRET_BYTES, derive_secret, sign, verify

BODY = b"<feed/>"


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_each_spec_algorithm_verifies(algorithm: str) -> None:
    header = sign(BODY, "s3cret", algorithm)
    expected = hmac.new(b"s3cret", BODY, getattr(hashlib, algorithm)).hexdigest()
    assert header == f"{algorithm}={expected}"
    assert verify(BODY, header, "s3cret")
    assert verify(BODY, header.upper(), "s3cret")  # hex case and method case do not matter


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha1",
        "sha1=",
        "md5=" + hashlib.md5(BODY).hexdigest(),
        sign(BODY, "other-secret"),
        sign(BODY + b" ", "s3cret"),
        sign(BODY, "s3cret")[:-1],
        "sha1=" + "é" * 40,
        "sha1=" + hashlib.sha1(BODY).hexdigest(),  # a hash, not an HMAC
    ],
)
def test_bad_signatures_are_false(header: str | None) -> None:
    assert verify(BODY, header, "s3cret") is False


def test_empty_secret_never_verifies() -> None:
    assert verify(BODY, sign(BODY, ""), "") is False


def test_derived_secret_is_per_topic_deterministic_and_short() -> None:
    one = derive_secret("master", "https://www.youtube.com/xml/feeds/videos.xml?channel_id=A")
    two = derive_secret("master", "https://www.youtube.com/xml/feeds/videos.xml?channel_id=B")
    assert one == derive_secret("master", "https://www.youtube.com/xml/feeds/videos.xml?channel_id=A")
    assert one != two
    assert one != derive_secret("other", "https://www.youtube.com/xml/feeds/videos.xml?channel_id=A")
    assert len(one.encode()) <= MAX_SECRET_BYTES


def test_derive_secret_requires_a_master_secret() -> None:
    with pytest.raises(ValueError, match="WEBSUB_SECRET"):
        derive_secret("", "topic")
