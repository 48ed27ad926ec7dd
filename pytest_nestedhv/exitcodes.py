"""The process exit codes of a run, for CI (documented in the README, "Exit codes").

pytest's own codes keep their meaning; what pytest has no code for gets one above them,
far enough from 0-5 that a future pytest code cannot collide.
"""
from __future__ import annotations

import enum


class NestedExit(enum.IntEnum):
    OK = 0  # every test passed (advisories are warnings)
    TESTS_FAILED = 1  # a requirement failed, or a test errored
    INTERRUPTED = 2  # Ctrl-C (or pytest -x and the like): the verdict says what was cleaned up
    INTERNAL_ERROR = 3  # a bug in pytest or a plugin
    BAD_INPUT = 4  # an option, environment variable, ini key or --nested-vm that cannot work
    NO_TESTS = 5  # nothing was collected or everything was deselected
    HOST_UNREACHABLE = 10  # a --nested-host did not answer (refused, unresolvable, TLS, credentials)
    HOST_LOST = 11  # a host stopped answering mid-run and did not come back in time
