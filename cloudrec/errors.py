"""Error codes of the svrMixer contract (SPEC §2) and the exception that carries them."""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    OK = 0
    PARAM_ERR = 5
    SERVER_EXCEPTION = 8
    NOT_LOGIN = 12
    ROOM_NOT_EXIST = 800
    FEATURE_NOT_ENABLED = 806
    CATCH_SCREEN_ERR = 900
    RECORD_MAX = 901
    RECORD_NO_DISK = 902
    RECORD_SIZE_ERR = 903
    CFG_RESTRICTED = 904
    FILE_ERR = 905
    RECORDSTARTED = 906
    NOMORE_MCU = 907
    SVRRECORD_SPACE_FULL = 908
    NETDISK_NOT_EXIST = 1500
    PERMISSIONDENIED = 1501
    INVALIDFILENAME = 1502
    FILEALREADYEXISTS = 1503
    FILEORDIRECTORYNOTEXISTS = 1504
    NOSPACE = 1507


# Messages quote what was refused; a hostile value may be as long as a message.
MAX_MESSAGE_CHARS = 500


class CloudrecError(Exception):
    """A refused call: a SPEC code plus a message that names the offending field."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[: MAX_MESSAGE_CHARS - 3] + "..."
        super().__init__(message)
        self.code = code
        self.message = message

    def to_wire(self) -> dict[str, object]:
        return {"err": int(self.code), "message": self.message}


def param_error(message: str) -> CloudrecError:
    return CloudrecError(ErrorCode.PARAM_ERR, message)
