"""Recordings in S3-compatible object storage (AWS S3, MinIO, Ceph, R2...):
the one client every part of cloudrec that touches the bucket goes through.

Keys: a file ``/d/demo.mp4`` is ``<prefix>d/demo.mp4``; while it is written,
what has reached the disk so far goes up every few seconds as numbered pieces,
``<prefix>.pieces/d/demo.mp4/00000001`` ..., each the bytes since the last.
Joined in order they are the file as it was at the last piece: what is left
of a part whose worker and disk are gone (stitch, below). S3's 5 MiB minimum
multipart part is why these are objects of their own: one multipart upload of
the growing file could not complete a part for minutes at recording bitrates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from cloudrec.config import Config, ConfigError

log = logging.getLogger(__name__)

PIECES = ".pieces/"
# Files up to this go up in one PUT; larger ones in parts this big.
PART_BYTES = 8 * 1024 * 1024
# One request's limits: a store that does not answer within these is treated
# as failing, and the caller's retries take over.
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0

StoreError = (BotoCoreError, ClientError, OSError)


@dataclass(frozen=True)
class StoreConfig:
    endpoint: str
    bucket: str
    prefix: str = ""
    region: str = "us-east-1"

    @classmethod
    def of(cls, config: Config) -> StoreConfig | None:
        """The store the config names; None when recordings stay on disk."""
        if not config.s3_bucket:
            return None
        return cls(config.s3_endpoint, config.s3_bucket, config.s3_prefix, config.s3_region)

    def key(self, file_name: str) -> str:
        return self.prefix + file_name.lstrip("/")

    def pieces_prefix(self, file_name: str) -> str:
        return f"{self.prefix}{PIECES}{file_name.lstrip('/')}/"

    def piece_key(self, file_name: str, seq: int) -> str:
        return f"{self.pieces_prefix(file_name)}{seq:08d}"


def _status(exc: Exception) -> int:
    if isinstance(exc, ClientError):
        return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    return 0


class ObjectStore:
    """Credentials come the standard way (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)."""

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        self._exit: contextlib.AsyncExitStack | None = None
        self._client: Any = None

    async def open(self) -> None:
        session = get_session()
        self._exit = contextlib.AsyncExitStack()
        self._client = await self._exit.enter_async_context(
            session.create_client(
                "s3",
                endpoint_url=self.config.endpoint,
                region_name=self.config.region,
                config=AioConfig(
                    connect_timeout=CONNECT_TIMEOUT_S,
                    read_timeout=READ_TIMEOUT_S,
                    # Our own callers retry with backoff, and say so.
                    retries={"total_max_attempts": 1, "mode": "standard"},
                    s3={"addressing_style": "path"},
                ),
            )
        )

    async def close(self) -> None:
        if self._exit is not None:
            await self._exit.aclose()
            self._exit = None

    async def ensure_bucket(self) -> None:
        """Creates the bucket if it is missing."""
        try:
            await self._client.head_bucket(Bucket=self.config.bucket)
            return
        except ClientError as exc:
            if _status(exc) != 404:
                raise
        options: dict[str, Any] = {}
        if self.config.region != "us-east-1":
            options["CreateBucketConfiguration"] = {"LocationConstraint": self.config.region}
        await self._client.create_bucket(Bucket=self.config.bucket, **options)
        log.info("created bucket %s", self.config.bucket)

    async def put(self, key: str, data: bytes, content_type: str = "") -> None:
        extra = {"ContentType": content_type} if content_type else {}
        await self._client.put_object(Bucket=self.config.bucket, Key=key, Body=data, **extra)

    async def put_file(self, key: str, path: Path, content_type: str = "") -> int:
        """Uploads ``path`` whole; its size."""
        size = path.stat().st_size
        # Reading megabytes is not for the event loop (a bot's clocks run on it).
        if size <= PART_BYTES:
            await self.put(key, await asyncio.to_thread(path.read_bytes), content_type)
            return size
        bucket = self.config.bucket
        extra = {"ContentType": content_type} if content_type else {}
        upload = await self._client.create_multipart_upload(Bucket=bucket, Key=key, **extra)
        upload_id = upload["UploadId"]
        try:
            parts = []
            with path.open("rb") as file:
                number = 1
                while chunk := await asyncio.to_thread(file.read, PART_BYTES):
                    done = await self._client.upload_part(
                        Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=chunk
                    )
                    parts.append({"ETag": done["ETag"], "PartNumber": number})
                    number += 1
            await self._client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            with contextlib.suppress(*StoreError):
                await self._client.abort_multipart_upload(
                    Bucket=bucket, Key=key, UploadId=upload_id
                )
            raise
        return size

    async def size(self, key: str) -> int | None:
        """The object's size; None if there is none."""
        try:
            head = await self._client.head_object(Bucket=self.config.bucket, Key=key)
        except ClientError as exc:
            if _status(exc) == 404:
                return None
            raise
        return int(head["ContentLength"])

    async def get(self, key: str) -> bytes:
        got = await self._client.get_object(Bucket=self.config.bucket, Key=key)
        async with got["Body"] as body:
            return bytes(await body.read())

    async def keys(self, prefix: str) -> list[tuple[str, int]]:
        """Every object under ``prefix``, with its size, in key order."""
        found: list[tuple[str, int]] = []
        paginator = self._client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.config.bucket, Prefix=prefix):
            found += [(o["Key"], int(o["Size"])) for o in page.get("Contents", [])]
        return sorted(found)

    async def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # the most one request may name
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            await self._client.delete_objects(
                Bucket=self.config.bucket, Delete={"Objects": batch, "Quiet": True}
            )

    async def presigned_get(self, key: str, ttl_s: int, download_name: str = "") -> str:
        params: dict[str, Any] = {"Bucket": self.config.bucket, "Key": key}
        if download_name:
            params["ResponseContentDisposition"] = download_name
        url: str = await self._client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=ttl_s
        )
        return url

    async def pieces(self, file_name: str) -> list[str]:
        return [key for key, _ in await self.keys(self.config.pieces_prefix(file_name))]

    async def stitch(self, file_name: str, into: Path) -> int:
        """Joins the pieces of ``file_name`` into ``into``; the bytes written."""
        written = 0
        with into.open("wb") as out:
            for key in await self.pieces(file_name):
                data = await self.get(key)
                out.write(data)
                written += len(data)
        return written


async def open_store(config: Config) -> ObjectStore | None:
    """The store the config names, its bucket made if missing; None when
    recordings stay on disk. One that cannot be reached stops start-up."""
    store_config = StoreConfig.of(config)
    if store_config is None:
        return None
    store = ObjectStore(store_config)
    try:
        await store.open()
        await store.ensure_bucket()
    except StoreError as exc:
        await store.close()
        where = config.s3_endpoint or "AWS S3"
        raise ConfigError(
            f"bucket {config.s3_bucket} at {where} cannot be reached or made: {exc}"
        ) from None
    return store
