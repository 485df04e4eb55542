"""The form's guards on their own: CSRF tokens, signed links, the rate limit, the client address, the language."""

from __future__ import annotations

import pytest

from adapters.web.guard import RateLimiter, Signer, client_address
from adapters.web.i18n import choose_language
from tests.support.clock import Clock


def test_csrf_token_is_valid_until_it_expires():
    clock = Clock(1_700_000_000.0)
    signer = Signer("secret", ttl=3600, clock=clock)
    token = signer.new_csrf_token()
    assert signer.csrf_valid(token, token)
    clock.now += 3600
    assert signer.csrf_valid(token, token)
    clock.now += 1
    assert not signer.csrf_valid(token, token)


def test_csrf_token_must_match_the_cookie_and_the_secret():
    signer = Signer("secret", ttl=3600)
    token, other = signer.new_csrf_token(), signer.new_csrf_token()
    assert not signer.csrf_valid(token, other)  # double submit: the field must equal the cookie
    assert not signer.csrf_valid(None, token) and not signer.csrf_valid(token, None)
    assert not Signer("another secret", ttl=3600).csrf_valid(token, token)
    issued, nonce, mac = token.split(".")
    for forged in (f"{int(issued, 16) + 60:x}.{nonce}.{mac}", f"{issued}.{nonce}x.{mac}", f"{issued}.{nonce}.",
                   "", "x" * 500, "zz.yy.xx"):
        assert not signer.csrf_valid(forged, forged), forged


def test_without_a_secret_each_process_has_its_own():
    token = Signer(None, ttl=3600).new_csrf_token()
    assert not Signer(None, ttl=3600).csrf_valid(token, token)


def test_signed_link():
    signer = Signer("secret", ttl=3600)
    signature = signer.link_signature("LPR-ABCDEFGH")
    assert signer.link_valid("LPR-ABCDEFGH", signature)
    assert not signer.link_valid("LPR-ABCDEFGJ", signature) and not signer.link_valid("LPR-ABCDEFGH", None)


def test_rate_limit_per_key_and_window():
    clock = Clock(0.0)
    limiter = RateLimiter(limit=2, window=60, clock=clock)
    assert limiter.hit("a") is None and limiter.hit("a") is None
    assert limiter.hit("a") == 60
    assert limiter.hit("b") is None  # another address is not affected
    clock.now = 59.5
    assert limiter.hit("a") == pytest.approx(0.5)
    clock.now = 60
    assert limiter.hit("a") is None


def test_rate_limit_off_and_memory_bounded():
    assert all(RateLimiter(limit=0, window=60).hit("a") is None for _ in range(100))
    clock = Clock(0.0)
    limiter = RateLimiter(limit=1, window=60, clock=clock, max_keys=10)
    for number in range(10):
        limiter.hit(f"old{number}")
    clock.now = 61
    limiter.hit("new")
    assert len(limiter._windows) == 1  # expired windows were pruned, not kept forever


@pytest.mark.parametrize(
    ("remote", "forwarded", "trusted", "client"),
    [
        ("203.0.113.9", None, [], "203.0.113.9"),
        ("203.0.113.9", "198.51.100.1", [], "203.0.113.9"),  # untrusted: the header is anyone's to write
        ("10.0.0.2", "198.51.100.1", ["10.0.0.2"], "198.51.100.1"),
        ("10.0.0.2", "6.6.6.6, 198.51.100.1, 10.0.0.3", ["10.0.0.2", "10.0.0.3"], "198.51.100.1"),
        ("10.0.0.2", "not-an-ip", ["10.0.0.2"], "10.0.0.2"),
        (None, None, [], "unknown"),
    ],
)
def test_client_address(remote, forwarded, trusted, client):
    assert client_address(remote, forwarded, trusted) == client


@pytest.mark.parametrize(
    ("query", "accept", "lang"),
    [(None, None, "id"), ("en", "id", "en"), (None, "en-US,en;q=0.9", "en"), (None, "id;q=0.4, en;q=0.5", "en"),
     (None, "en;q=abc, id", "id"), (None, "de, fr", "id"), ("xx", "EN", "en")],
)
def test_choose_language(query, accept, lang):
    assert choose_language(query, accept) == lang
