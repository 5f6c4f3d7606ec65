"""Whose media a layout means: one value per video source and per sound,
parsed from and printed to their wire names here and nowhere else.

A video source is a participant's camera (``alice.0``; ``alice.-1`` is their
default camera), their screen share (``alice.screen``) or the file they share
(``alice.media``); ``*`` for the user means whoever shares that kind now
(``*.screen``). A user ID may itself hold dots: the name after the last one
says which source. A sound is a participant's microphone or the sound of the
file they share.
"""

from __future__ import annotations

from dataclasses import dataclass

ANYONE = "*"
DEFAULT_CAMERA = -1
SHARE_KINDS = ("screen", "media")


@dataclass(frozen=True)
class SourceId:
    user: str
    kind: str  # "camera", "screen" or "media"
    cam: int = DEFAULT_CAMERA  # cameras only

    @classmethod
    def camera(cls, user: str, cam: int = DEFAULT_CAMERA) -> SourceId:
        return cls(user, "camera", cam)

    @classmethod
    def share(cls, user: str, kind: str) -> SourceId:
        """``kind`` "screen" or "media"."""
        return cls(user, kind)

    @classmethod
    def parse(cls, text: str) -> SourceId:
        """Raises ValueError for anything that is no source name."""
        user, sep, name = text.rpartition(".")
        if not sep or not user:
            raise ValueError(f"'{text}' names no source")
        if name in SHARE_KINDS:
            return cls.share(user, name)
        cam = int(name)
        if cam < DEFAULT_CAMERA:
            raise ValueError(f"'{text}' names no camera")
        return cls.camera(user, cam)

    def __str__(self) -> str:
        return f"{self.user}.{self.cam if self.kind == 'camera' else self.kind}"

    @property
    def anyone(self) -> bool:
        """Whoever shares this kind now, rather than one user."""
        return self.user == ANYONE


@dataclass(frozen=True)
class SoundId:
    """A participant's microphone, or the sound of the file they share."""

    user: str
    shared_file: bool = False

    def __str__(self) -> str:
        return f"{self.user}/media" if self.shared_file else self.user
