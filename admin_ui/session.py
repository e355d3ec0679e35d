"""Signed session cookies and their CSRF tokens, with no server-side session store.

The cookie holds the signed-in key's public id (never the key), or for an employee who
signed in through the identity provider their employee id and department, a CSRF
token and an expiry, signed with HMAC-SHA256. Every visitor gets one, signed in or not, so the
sign-in form is CSRF-protected too; signing in or out issues a fresh one (no fixation).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, replace

COOKIE_NAME = "sobria_session"


@dataclass(frozen=True, slots=True)
class Session:
    """What the cookie carries: the signed-in key id (None when anonymous), CSRF token, expiry."""

    csrf: str
    expires_at: int
    key_id: str | None = None
    employee_id: str | None = None
    department: str | None = None
    roles: tuple[str, ...] = ()
    """The roles an identity provider granted at sign-in (empty for a key: the key's record holds them)."""

    @classmethod
    def anonymous(cls, max_age_s: int) -> Session:
        return cls(csrf=secrets.token_urlsafe(24), expires_at=int(time.time()) + max_age_s)

    def signed_in(self, key_id: str, max_age_s: int) -> Session:
        """A new session for `key_id`, with a fresh CSRF token."""
        return replace(Session.anonymous(max_age_s), key_id=key_id)

    def signed_in_employee(self, employee_id: str, department: str, max_age_s: int,
                           roles: tuple[str, ...] = ("employee",)) -> Session:
        """A new session for an employee the identity provider vouched for, with a fresh CSRF token."""
        return replace(Session.anonymous(max_age_s), employee_id=employee_id, department=department,
                       roles=tuple(sorted(roles)))

    def csrf_matches(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf, token or "")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionCodec:
    """Turns a `Session` into a signed cookie value and back; forged or expired ones read as None."""

    def __init__(self, secret: bytes, max_age_s: int = 8 * 3600):
        self._secret = hashlib.sha256(b"sobria-ui-session:" + secret).digest()
        self.max_age_s = max_age_s

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

    def encode(self, session: Session) -> str:
        body = {"c": session.csrf, "e": session.expires_at, "k": session.key_id, "i": session.employee_id,
                "d": session.department, "r": list(session.roles)}
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}"

    def decode(self, value: str | None, now: float | None = None) -> Session | None:
        if not value or "." not in value:
            return None
        payload, _, signature = value.partition(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            body = json.loads(_unb64(payload))
            session = Session(csrf=str(body["c"]), expires_at=int(body["e"]), key_id=body.get("k"),
                              employee_id=body.get("i"), department=body.get("d"),
                              roles=tuple(str(role) for role in body.get("r") or ()))
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires_at < (time.time() if now is None else now):
            return None
        return session
