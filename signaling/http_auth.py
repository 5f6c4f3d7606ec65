"""Who is calling over HTTP: the API key (HTTP Basic key:secret), an access
token (Bearer), or anyone in --dev mode."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware

from cloudrec.auth import (
    API_KEY_IDENTITY,
    DEV_IDENTITY,
    Identity,
    basic_credentials,
    same,
    verify_token,
)
from cloudrec.config import Config
from cloudrec.errors import CloudrecError, ErrorCode
from signaling.http_errors import Handler

IDENTITY_KEY = web.RequestKey("identity", Identity)
PROTECTED_PREFIX = "/api/v1/"


def identify(config: Config, header: str) -> Identity:
    if config.dev:
        return DEV_IDENTITY
    if not header:
        raise CloudrecError(ErrorCode.NOT_LOGIN, "credentials are needed (Basic or Bearer)")
    basic = basic_credentials(header)
    if basic is not None:
        key, secret = basic
        if same(key, config.api_key) and same(secret, config.api_secret):
            return API_KEY_IDENTITY
        raise CloudrecError(ErrorCode.NOT_LOGIN, "API key or secret is wrong")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise CloudrecError(ErrorCode.NOT_LOGIN, "Authorization must be Basic or Bearer")
    return verify_token(config.api_secret, token.strip())


def identity(request: web.Request) -> Identity:
    if IDENTITY_KEY not in request:
        raise CloudrecError(ErrorCode.NOT_LOGIN, "credentials are needed")
    return request[IDENTITY_KEY]


def auth_middleware(config: Config) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(PROTECTED_PREFIX):
            try:
                request[IDENTITY_KEY] = identify(config, request.headers.get("Authorization", ""))
            except CloudrecError as exc:
                return web.json_response(
                    exc.to_wire(),
                    status=401,
                    headers={"WWW-Authenticate": 'Basic realm="cloudrec"'},
                )
        return await handler(request)

    return middleware
