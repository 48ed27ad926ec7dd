"""The lab's exceptions: one for the user's input, one for a step that failed, one for what it blocks."""
from __future__ import annotations

from typing import Any


class LabBlocked(Exception):
    """A step cannot run because an earlier one failed; the message names both."""


class LabConfigError(Exception):
    """Bad input detected on the host (e.g. the base image does not exist): one line for the user."""


class StepError(Exception):
    """A step's own failure, with the FQID when a remote error caused it and any evidence gathered."""

    def __init__(self, message: str, fqid: str | None = None, **evidence: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fqid = fqid
        self.evidence = evidence
