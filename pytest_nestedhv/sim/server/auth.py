"""HTTP authentication of one connection: Basic, or NTLM/Negotiate through pyspnego's acceptor.

NTLM authenticates a TCP connection, not a request, so one ``ConnectionAuth`` lives as long
as its connection. Outcomes never carry the password or the client's tokens into logs.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
from typing import Any

import spnego

from .tls import ServerTls
from .users import UserStore


class AuthMode(str, enum.Enum):
    BASIC = "basic"
    NTLM = "ntlm"
    NEGOTIATE = "negotiate"


class Verdict(enum.Enum):
    ACCEPTED = "accepted"  # serve the request
    CHALLENGE = "challenge"  # answer 401 with the header (more legs to go, or no credentials yet)
    DENIED = "denied"  # answer 401: wrong credentials


@dataclasses.dataclass(frozen=True)
class AuthResult:
    verdict: Verdict
    www_authenticate: str | None = None  # header for the response (also on a final 200 for Negotiate)
    user: str | None = None


BASIC_CHALLENGE = 'Basic realm="WSMAN"'
NEGOTIATE_CHALLENGE = "Negotiate"


class ConnectionAuth:
    """Authentication state of one client connection."""

    def __init__(self, mode: AuthMode, users: UserStore, tls: ServerTls | None) -> None:
        self.mode = mode
        self._users = users
        self._tls = tls
        self._context: Any = None  # spnego context once NTLM/Negotiate started
        self.user: str | None = None

    @property
    def context(self) -> Any:
        """The completed security context, for WinRM message encryption (None for Basic)."""
        return self._context if self._context is not None and self._context.complete else None

    def check(self, authorization: str | None) -> AuthResult:
        if self.mode is AuthMode.BASIC:
            return self._check_basic(authorization)
        return self._check_negotiate(authorization)

    def _check_basic(self, authorization: str | None) -> AuthResult:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return AuthResult(Verdict.CHALLENGE, BASIC_CHALLENGE)
        try:
            user, _, password = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return AuthResult(Verdict.DENIED, BASIC_CHALLENGE)
        if not self._users.check_password(user, password):
            return AuthResult(Verdict.DENIED, BASIC_CHALLENGE)
        self.user = user
        return AuthResult(Verdict.ACCEPTED, user=user)

    def _check_negotiate(self, authorization: str | None) -> AuthResult:
        scheme, _, token = (authorization or "").partition(" ")
        # pypsrp sends raw NTLM tokens under "Negotiate" when asked for auth="ntlm"
        if scheme.lower() not in ("negotiate", "ntlm") or not token.strip():
            if self.context is not None:
                return AuthResult(Verdict.ACCEPTED, user=self.user)
            return AuthResult(Verdict.CHALLENGE, NEGOTIATE_CHALLENGE)
        try:
            in_token = base64.b64decode(token.strip(), validate=True)
        except binascii.Error:
            self._context = None
            return AuthResult(Verdict.DENIED, NEGOTIATE_CHALLENGE)
        if self._context is None or self._context.complete:
            # a token on an authenticated connection starts a new authentication
            self._context = self._new_acceptor()
        try:
            with self._users.ntlm_environment():
                out_token = self._context.step(in_token)
        except Exception:  # pyspnego raises SpnegoError subclasses for bad passwords, bindings, tokens
            self._context = None
            self.user = None
            return AuthResult(Verdict.DENIED, NEGOTIATE_CHALLENGE)
        header = f"Negotiate {base64.b64encode(out_token).decode()}" if out_token else None
        if not self._context.complete:
            return AuthResult(Verdict.CHALLENGE, header or NEGOTIATE_CHALLENGE)
        user = str(self._context.client_principal or "")
        if not self._users.knows(user):
            self._context = None
            return AuthResult(Verdict.DENIED, NEGOTIATE_CHALLENGE)
        self.user = user
        # Negotiate's final token (mechListMIC) must ride on the final 200
        return AuthResult(Verdict.ACCEPTED, header, user=user)

    def _new_acceptor(self) -> Any:
        bindings = self._tls.channel_bindings() if self._tls is not None else None
        with self._users.ntlm_environment():
            return spnego.server(
                hostname="localhost",
                service="host",
                channel_bindings=bindings,
                protocol="negotiate",
            )
