"""The one config object: embedded defaults that run on a laptop, every knob
settable by command-line flag and by CLOUDREC_* environment variable."""

from __future__ import annotations

import argparse
import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path

from cloudrec.wire import Limits


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("./data")
    max_rooms: int = 100
    max_peers_per_room: int = 16
    max_message_bytes: int = 64 * 1024
    max_sessions: int = 8
    max_recording_seconds: int = 4 * 3600
    min_free_disk_mb: int = 200
    limits: Limits = field(default_factory=Limits)
    # The in-process bot proves it is the recorder with this; fresh per process.
    bot_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"


# flag name -> (help, type); each is also read from CLOUDREC_<NAME> upper-cased.
_KNOBS: dict[str, tuple[str, type]] = {
    "host": ("address to listen on", str),
    "port": ("TCP port to listen on", int),
    "data_dir": ("where recordings and the index are kept", Path),
    "max_rooms": ("rooms open at once", int),
    "max_peers_per_room": ("participants in one room", int),
    "max_message_bytes": ("largest signaling message accepted", int),
    "max_sessions": ("recordings running at once (907 past it)", int),
    "max_recording_seconds": ("longest recording (901 past it)", int),
    "min_free_disk_mb": ("free disk needed to start a recording (902 under it)", int),
}
ENV_PREFIX = "CLOUDREC_"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = Config()
    for name, (help_text, kind) in _KNOBS.items():
        env = ENV_PREFIX + name.upper()
        default = getattr(defaults, name)
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=None,
            help=f"{help_text} (env {env}, default {default})",
        )


def from_arguments(args: argparse.Namespace, environ: dict[str, str] | None = None) -> Config:
    """Flags win over the environment, which wins over the defaults."""
    env = os.environ if environ is None else environ
    known = {f.name for f in fields(Config)}
    values: dict[str, object] = {}
    for name, (_, kind) in _KNOBS.items():
        flag = getattr(args, name, None)
        if flag is not None:
            values[name] = flag
        elif ENV_PREFIX + name.upper() in env:
            values[name] = kind(env[ENV_PREFIX + name.upper()])
    return Config(**{k: v for k, v in values.items() if k in known})  # type: ignore[arg-type]
