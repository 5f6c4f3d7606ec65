"""Who may do what: access tokens (JWT, HS256), the API key, signed download links.

A token names a room (or ``*`` for every room), a user, an expiry and grants:
``join`` (enter the room), ``publish`` (send media), ``record`` (start, update
and stop the mixer), ``files`` (list, download and delete recordings).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

import jwt

from cloudrec.errors import CloudrecError, ErrorCode

GRANTS = ("join", "publish", "record", "files")
ALL_ROOMS = "*"
ISSUER = "cloudrec"
DEFAULT_TTL_S = 24 * 3600


@dataclass(frozen=True)
class Identity:
    """Whoever is calling: a token's holder, or the API key (every grant, every room)."""

    user: str
    room: str
    grants: frozenset[str]
    operator: bool = False  # the API key (or --dev): beyond any room

    def may(self, grant: str, room: str | None = None) -> bool:
        in_room = room is None or self.room in (ALL_ROOMS, room)
        return grant in self.grants and in_room

    def require(self, grant: str, room: str | None = None) -> None:
        if not self.may(grant, room):
            where = f" in room '{room}'" if room else ""
            raise CloudrecError(ErrorCode.PERMISSIONDENIED, f"the '{grant}' grant{where} is needed")


API_KEY_IDENTITY = Identity("api", ALL_ROOMS, frozenset(GRANTS), operator=True)
DEV_IDENTITY = Identity("dev", ALL_ROOMS, frozenset(GRANTS), operator=True)


def mint_token(
    secret: str, room: str, user: str, grants: tuple[str, ...], ttl_s: int = DEFAULT_TTL_S
) -> str:
    unknown = set(grants) - set(GRANTS)
    if unknown:
        raise ValueError(f"unknown grants: {', '.join(sorted(unknown))}")
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": user,
        "room": room,
        "grants": list(grants),
        "iat": now,
        "exp": now + ttl_s,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_token(secret: str, token: str) -> Identity:
    if not token.isascii():  # a JWT is base64url and dots; anything else is no token
        raise CloudrecError(ErrorCode.NOT_LOGIN, "token is not valid: it is not ASCII")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=ISSUER,
            options={"require": ["exp", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise CloudrecError(ErrorCode.NOT_LOGIN, "token has expired") from None
    except jwt.InvalidTokenError as exc:
        raise CloudrecError(ErrorCode.NOT_LOGIN, f"token is not valid: {exc}") from None
    grants = claims.get("grants", [])
    if not isinstance(grants, list):
        raise CloudrecError(ErrorCode.NOT_LOGIN, "token grants must be a list")
    return Identity(str(claims["sub"]), str(claims.get("room", "")), frozenset(map(str, grants)))


def secret_key(comp_id: str, comp_secret: str) -> str:
    """The netdisk API's SecretKey: md5(CompID + "&" + CompSecret), lowercase hex."""
    return hashlib.md5(f"{comp_id}&{comp_secret}".encode()).hexdigest()


def webhook_signature(comp_id: str, comp_secret: str, when: str) -> str:
    return hashlib.md5(f"{comp_id}&{comp_secret}&{when}".encode()).hexdigest()


WEBHOOK_SECRET_PREFIX = "whsec_"


def webhook_secret(api_secret: str) -> str:
    """The key lifecycle webhooks are signed with when none is set, derived from
    the API secret (the Standard Webhooks form: whsec_ and base64 of the key)."""
    key = hmac.new(api_secret.encode(), b"cloudrec webhook signing key", hashlib.sha256).digest()
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(key).decode()


def valid_webhook_secret(secret: str) -> bool:
    """A whsec_ key of 24 to 64 bytes, as Standard Webhooks recommends."""
    if not secret.startswith(WEBHOOK_SECRET_PREFIX):
        return False
    try:
        key = base64.b64decode(secret.removeprefix(WEBHOOK_SECRET_PREFIX), validate=True)
    except ValueError:
        return False
    return 24 <= len(key) <= 64


def standard_webhook_signature(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The webhook-signature header of Standard Webhooks: v1, then base64 of
    HMAC-SHA256 over ``id.timestamp.body`` with the secret's key."""
    key = base64.b64decode(secret.removeprefix(WEBHOOK_SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def basic_header(key: str, secret: str) -> str:
    """The Authorization header value for HTTP Basic with the API key."""
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


def basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        key, sep, secret = base64.b64decode(value, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (key, secret) if sep else None


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(
        a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    )


def recorder_key(secret: str, room: str, job_id: str) -> str:
    """What a recording bot joins with: it proves the bot was handed this job by
    someone holding ``secret`` (the server's own bot key, or in a cluster the
    API secret that workers and control nodes share)."""
    message = f"recorder:{room}:{job_id}".encode("utf-8", "surrogatepass")
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_download(secret: str, recording_id: int, expires: int) -> str:
    message = f"download:{recording_id}:{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def check_download(secret: str, recording_id: int, expires: int, signature: str) -> bool:
    if expires < time.time():
        return False
    return same(sign_download(secret, recording_id, expires), signature)
