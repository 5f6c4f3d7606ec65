"""SPEC error codes as HTTP answers: a status and ``{err, message}``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from cloudrec.errors import CloudrecError, ErrorCode

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_STATUS = {
    ErrorCode.PARAM_ERR: 400,
    ErrorCode.RECORD_MAX: 409,
    ErrorCode.CFG_RESTRICTED: 403,
    ErrorCode.NETDISK_NOT_EXIST: 404,
    ErrorCode.NOSPACE: 507,
    ErrorCode.ROOM_NOT_EXIST: 404,
    ErrorCode.RECORDSTARTED: 409,
    ErrorCode.FILEALREADYEXISTS: 409,
    ErrorCode.INVALIDFILENAME: 400,
    ErrorCode.RECORD_SIZE_ERR: 400,
    ErrorCode.FEATURE_NOT_ENABLED: 501,
    ErrorCode.NOMORE_MCU: 503,
    ErrorCode.RECORD_NO_DISK: 507,
    ErrorCode.PERMISSIONDENIED: 403,
    ErrorCode.NOT_LOGIN: 401,
    ErrorCode.FILEORDIRECTORYNOTEXISTS: 404,
    ErrorCode.SVRRECORD_SPACE_FULL: 507,
}


def status_of(code: ErrorCode) -> int:
    """The HTTP status of a SPEC code; 500 only for the server's own failures
    (8, 900, 905: a bug, the screen capture, the file system)."""
    return _STATUS.get(code, 500)


def error_response(exc: CloudrecError) -> web.Response:
    return web.json_response(exc.to_wire(), status=status_of(exc.code))


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every handler raises CloudrecError for a refused call; this is where it
    becomes an HTTP answer."""
    try:
        return await handler(request)
    except CloudrecError as exc:
        return error_response(exc)
