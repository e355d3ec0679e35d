"""Session cookies: signed, expiring, and carrying no key."""

from __future__ import annotations

import time

from admin_ui.session import Session, SessionCodec


def test_a_session_survives_the_round_trip():
    codec = SessionCodec(b"secret")
    session = Session.anonymous(60).signed_in("abcd1234", 60)
    assert codec.decode(codec.encode(session)) == session


def test_a_tampered_cookie_reads_as_no_session():
    codec = SessionCodec(b"secret")
    value = codec.encode(Session.anonymous(60).signed_in("abcd1234", 60))
    signature = value.partition(".")[2]
    forged = SessionCodec(b"other").encode(Session.anonymous(60).signed_in("admin999", 60))
    assert codec.decode(forged) is None
    assert codec.decode(forged.partition(".")[0] + "." + signature) is None


def test_an_expired_session_reads_as_no_session():
    codec = SessionCodec(b"secret")
    value = codec.encode(Session.anonymous(60))
    assert codec.decode(value, now=time.time() + 61) is None


def test_signing_in_issues_a_fresh_csrf_token():
    anonymous = Session.anonymous(60)
    assert anonymous.signed_in("abcd1234", 60).csrf != anonymous.csrf


def test_csrf_tokens_must_match_exactly():
    session = Session.anonymous(60)
    assert session.csrf_matches(session.csrf)
    assert not session.csrf_matches(None) and not session.csrf_matches(session.csrf[:-1])
