"""The accounts a server accepts, for Basic and for pyspnego's NTLM acceptor.

pyspnego's acceptor only reads users from the file named by the NTLM_USER_FILE environment
variable, which is process-wide. Several servers may run in one process with different
accounts, so each server writes its own file (mode 0600, never logged) and the NTLM steps
that read it run with the variable pointing at that file, under one process-wide lock.
"""
from __future__ import annotations

import contextlib
import hmac
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

# A lock, not state: it serialises the short NTLM steps that need the environment variable.
_ENV_LOCK = threading.Lock()
_ENV_NAME = "NTLM_USER_FILE"


def split_user(name: str) -> tuple[str, str]:
    """'DOMAIN\\user' -> ('DOMAIN', 'user'); 'user@dom' and 'user' -> ('', user-part)."""
    if "\\" in name:
        domain, user = name.split("\\", 1)
        return domain, user
    return "", name.split("@", 1)[0]


class UserStore:
    """Accounts (user -> password) of one server; passwords never leave this object
    except into the 0600 file pyspnego reads."""

    def __init__(self, users: Mapping[str, str], directory: Path) -> None:
        if not users:
            raise ValueError("a server needs at least one user")
        for name, password in users.items():
            if ":" in name or ":" in password or "\n" in name or "\n" in password:
                raise ValueError(f"user {name!r}: ':' and newlines are not allowed in user names or passwords")
        self._users = {split_user(name)[1].lower(): password for name, password in users.items()}
        self._path = directory / "ntlm-users"
        fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for name, password in users.items():
                domain, user = split_user(name)
                handle.write(f"{domain}:{user}:{password}\n")

    def __repr__(self) -> str:
        return f"UserStore(users={sorted(self._users)!r})"

    def check_password(self, name: str, password: str) -> bool:
        # assumption: like a local Windows account, the domain part (HOST\, .\) is not checked
        expected = self._users.get(split_user(name)[1].lower())
        if expected is None:
            return False
        return hmac.compare_digest(expected.encode("utf-8"), password.encode("utf-8"))

    def knows(self, name: str) -> bool:
        return split_user(name)[1].lower() in self._users

    @contextlib.contextmanager
    def ntlm_environment(self) -> Iterator[None]:
        """Run an NTLM acceptor step against this server's accounts."""
        with _ENV_LOCK:
            previous = os.environ.get(_ENV_NAME)
            os.environ[_ENV_NAME] = str(self._path)
            try:
                yield
            finally:
                if previous is None:
                    os.environ.pop(_ENV_NAME, None)
                else:
                    os.environ[_ENV_NAME] = previous
