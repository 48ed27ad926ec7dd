"""Passwords, and the mask that keeps them out of every text the plugin writes.

A ``Secret`` never shows its value through repr/str/format and refuses to be pickled, so it
cannot leak into a report, a test id or an exception by accident; ``reveal()`` is called
only where the value goes to pypsrp (the transport password, or a SecureString).
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from typing import NoReturn

MASK = "********"
# assumption: shorter values are masked too late to matter (they are substrings of ordinary
# words) and masking them would garble every log line; real Windows passwords are longer.
MIN_MASKED_LENGTH = 4


class Secret:
    """A password. Compare with ``==``; read it with ``reveal()`` only at the wire."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret holds a str")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        import hmac  # why here: hmac imports hashlib/OpenSSL, and this module loads with the plugin

        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, len(self._value)))

    def __reduce__(self) -> NoReturn:
        # why: pickling is how values reach xdist workers, caches and reports
        raise TypeError("a Secret cannot be pickled")


@dataclasses.dataclass(frozen=True)
class GuestCredential:
    """An account inside a guest; goes on the wire as a PSCredential (SecureString password)."""

    user: str
    password: Secret


class SecretMask:
    """Knows every secret of the session and replaces them in any text."""

    def __init__(self, secrets: Iterable[Secret | str] = ()) -> None:
        self._values: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: Secret | str | None) -> None:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value and len(value) >= MIN_MASKED_LENGTH:
            self._values.add(value)
            escaped = value.encode("unicode_escape").decode("ascii")
            if escaped != value:
                self._values.add(escaped)  # how the value looks inside a repr()

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"SecretMask({len(self._values)} secrets)"

    def mask(self, text: str) -> str:
        # longest first: a secret that contains another is replaced whole
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, MASK)
        return text


class SecretMaskFilter(logging.Filter):
    """A handler filter that masks secrets in the message, its arguments and the traceback."""

    def __init__(self, mask: SecretMask) -> None:
        super().__init__("nestedhv.secrets")
        self.secret_mask = mask

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is logging's problem, not ours
            message = str(record.msg)
        masked = self.secret_mask.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.secret_mask.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.secret_mask.mask(record.stack_info)
        return True
