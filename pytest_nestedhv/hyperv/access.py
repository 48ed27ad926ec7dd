"""Whether Hyper-V lets this account manage the host: checked once, before anything is touched."""
from __future__ import annotations

from typing import Any

from ..remote.commands import Cmd
from ..remote.errors import ConnectionFailed

# Windows' answer to a Hyper-V cmdlet run by a user who is neither an elevated administrator nor in
# "Hyper-V Administrators" (the VMMS authorization check); see docs/requirements.md
NO_PERMISSION = "You do not have the required permission to complete this task."


def check_access(session: Any) -> None:
    """One read-only call; ConnectionFailed (one line naming the fix) when Hyper-V refuses the account."""
    with session.transcript.step("connect"):
        session.run(Cmd.of("Get-VMHost"), timeout=60, check=False)
    for error in session.last_errors:
        if error.category == "PermissionDenied" or NO_PERMISSION in error.message:
            where = "this prompt is not elevated" if session.target.is_local else "the account is not an administrator"
            raise ConnectionFailed(
                f"{session.target.label}: Hyper-V refused access ({where}): run from an elevated prompt "
                "(Run as administrator), or join the \"Hyper-V Administrators\" group and sign in again",
                target=session.target.label)
