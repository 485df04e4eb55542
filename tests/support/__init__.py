"""Helpers the test suite shares: a gateway per test, a queue reader, a TCP proxy to break links."""
