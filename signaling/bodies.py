"""Request bodies read as JSON objects, for every REST and netdisk call."""

from __future__ import annotations

import codecs
from typing import Any

from aiohttp import web

from cloudrec import jsonio
from cloudrec.errors import CloudrecError, ErrorCode


async def json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object, in the charset it declares (UTF-8 by default);
    anything else is PARAM_ERR saying what was wrong."""
    raw = await request.read()
    charset = request.charset or "utf-8"
    try:
        codecs.lookup(charset)
    except LookupError:
        raise CloudrecError(
            ErrorCode.PARAM_ERR, f"body charset '{charset[:40]}' is unknown"
        ) from None
    try:
        text = raw.decode(charset)
    except UnicodeDecodeError:
        raise CloudrecError(ErrorCode.PARAM_ERR, f"body is not {charset[:40]}") from None
    return jsonio.parse_object(text, "body")
