"""Room and user IDs: what a valid one is, checked in one place.

IDs end up in file names (mode-1 recordings substitute the user ID), in SQLite
and in every participant's page, so they are bounded in UTF-8 bytes, not
characters, and may not be anything a path would read as a step or a hidden
file. The recorder's own user name is reserved.
"""

from __future__ import annotations

from typing import Any

from cloudrec.errors import CloudrecError, ErrorCode

MAX_ID_BYTES = 64
# The recording bot joins its room as "recorder-<room>"; a participant holding
# that name would keep the bot out.
RECORDER_PREFIX = "recorder-"


def recorder_user(room: str) -> str:
    return RECORDER_PREFIX + room


def has_control_characters(value: str) -> bool:
    """C0 controls, DEL, or a lone UTF-16 surrogate: nothing a name may hold."""
    return any(ord(ch) < 32 or ord(ch) == 127 or 0xD800 <= ord(ch) <= 0xDFFF for ch in value)


def check_id(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise CloudrecError(ErrorCode.PARAM_ERR, f"{name} must be a non-empty string")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
        raise CloudrecError(
            ErrorCode.PARAM_ERR, f"{name} must be at most {MAX_ID_BYTES} bytes in UTF-8"
        )
    if has_control_characters(value):
        raise CloudrecError(ErrorCode.PARAM_ERR, f"{name} may not hold control characters")
    if "/" in value or "\\" in value:
        raise CloudrecError(ErrorCode.PARAM_ERR, f"{name} may not hold '/' or '\\'")
    if value.startswith("."):
        raise CloudrecError(ErrorCode.PARAM_ERR, f"{name} may not start with '.'")
    return value


def check_participant_id(value: Any) -> str:
    user = check_id(value, "user")
    if user.startswith(RECORDER_PREFIX):
        raise CloudrecError(
            ErrorCode.PARAM_ERR, f"user names starting with '{RECORDER_PREFIX}' are reserved"
        )
    return user
