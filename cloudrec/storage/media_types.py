"""The media type of each file a recording is made of, by its extension."""

from __future__ import annotations

CONTENT_TYPES = {
    "mp4": "video/mp4",
    "m4a": "audio/mp4",
    "ts": "video/mp2t",
    "flv": "video/x-flv",
    "mkv": "video/x-matroska",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "m3u8": "application/vnd.apple.mpegurl",
    "jpg": "image/jpeg",
}


def content_type(file_name: str) -> str:
    return CONTENT_TYPES.get(file_name.rsplit(".", 1)[-1].lower(), "application/octet-stream")
