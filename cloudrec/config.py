"""The one config object: embedded defaults that run on a laptop, every knob
settable by command-line flag and by CLOUDREC_* environment variable."""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import secrets
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from cloudrec.wire import Limits

# x264's speed presets, fastest first; each slower one gives a smaller file at
# the same quality for more CPU. veryfast is where the usual recorders settle.
X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)
DEFAULT_X264_PRESET = "veryfast"


class ConfigError(Exception):
    """A configuration the service cannot run with; its message is one line that
    says what to change."""


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("./data")
    max_rooms: int = 100
    max_peers_per_room: int = 16
    max_message_bytes: int = 64 * 1024
    max_messages_per_second: int = 50
    max_joins_per_minute: int = 60
    max_sessions: int = 8
    max_recording_seconds: int = 4 * 3600
    min_free_disk_mb: int = 200
    storage_quota_mb: int = 0
    dev: bool = False
    api_key: str = ""
    api_secret: str = ""
    webhook_url: str = ""
    webhook_secret: str = ""
    retention_days: float = 0.0
    download_ttl_s: int = 3600
    auto_record: str = ""
    auto_record_size: tuple[int, int] = (1280, 720)
    auto_record_fps: int = 15
    x264_preset: str = DEFAULT_X264_PRESET
    limits: Limits = field(default_factory=Limits)
    redis: str = ""
    advertise_url: str = ""
    s3_endpoint: str = ""
    s3_bucket: str = ""
    s3_prefix: str = ""
    s3_region: str = "us-east-1"
    keep_local: bool = False
    # Publishers' bandwidth estimated from packet timing (aiortc's REMB
    # estimator, on every video packet) rather than asked per shown box.
    estimate_bandwidth: bool = False
    cost_scale: float = 1.0
    # A recording bot the server started proves it is one with this; fresh per server.
    bot_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"

    @property
    def resources_dir(self) -> Path:
        return self.data_dir / "resources"

    @property
    def index_path(self) -> Path:
        return self.data_dir / "recordings.sqlite3"

    @property
    def credentials_path(self) -> Path:
        return self.data_dir / "credentials.json"

    @property
    def recorder_secret(self) -> str:
        """What a bot's join credential is signed with: in a cluster, the secret
        workers share with control nodes; alone, this server's own key."""
        return self.api_secret if self.redis else self.bot_key

    @property
    def is_loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"


# flag name -> (help, type); each is also read from CLOUDREC_<NAME> upper-cased.
_KNOBS: dict[str, tuple[str, type]] = {
    "host": ("address to listen on", str),
    "port": ("TCP port to listen on", int),
    "data_dir": ("where recordings and the index are kept", Path),
    "max_rooms": ("rooms open at once", int),
    "max_peers_per_room": ("participants in one room", int),
    "max_message_bytes": ("largest signaling message either side sends", int),
    "max_messages_per_second": (
        "signaling messages one connection may send a second (four seconds' worth at once)",
        int,
    ),
    "max_joins_per_minute": ("joins one remote address may make a minute (907 past it)", int),
    "max_sessions": ("recordings running at once (907 past it)", int),
    "max_recording_seconds": ("longest recording (901 past it)", int),
    "min_free_disk_mb": ("free disk needed to start a recording (902 under it)", int),
    "storage_quota_mb": ("total size of all recordings, 0 = none (908 past it)", int),
    "api_key": ("API key (netdisk CompID); made and kept in the data dir if unset", str),
    "api_secret": ("API secret (netdisk CompSecret, token signing key); as above", str),
    "webhook_url": (
        "POST each recording's lifecycle events (Standard Webhooks) and RECORD_FINISH here",
        str,
    ),
    "webhook_secret": (
        "whsec_... key the lifecycle events are signed with; derived from the API"
        " secret if unset (cloudrec webhook-secret prints it)",
        str,
    ),
    "retention_days": (
        "delete finished recordings this many days after they began, 0 = keep"
        " (a recording's own expiresAt wins)",
        float,
    ),
    "download_ttl_s": ("lifetime of signed download links (downUrl)", int),
    "auto_record": ("rooms whose name matches this pattern (fnmatch) record themselves", str),
    "auto_record_fps": ("frame rate of auto-recordings", int),
    "redis": (
        "Redis URL (redis://host:port/db or unix:///path): record on the cluster's"
        " workers (cloudrec worker) instead of on this machine",
        str,
    ),
    "advertise_url": (
        "the http(s) URL workers' bots reach this control node at; default"
        " http://HOST:PORT as it listens",
        str,
    ),
    "s3_endpoint": ("S3-compatible store's URL (credentials: AWS_ACCESS_KEY_ID...)", str),
    "s3_bucket": ("keep recordings in this bucket (made if missing)", str),
    "s3_prefix": ("the bucket's keys start with this, e.g. cloudrec/", str),
    "s3_region": ("the store's region", str),
    "cost_scale": (
        "multiplies each job's estimated CPU cost, for workers faster or slower"
        " than the machine the model was fitted on (docs/deploy.md)",
        float,
    ),
    "x264_preset": (
        "x264 speed preset, ultrafast ... veryslow: faster ones cost less CPU for"
        " bigger files at the same quality (bench/README.md has figures)",
        str,
    ),
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
            help=f"{help_text} (env {env}, default {default!r})",
        )
    parser.add_argument(
        "--dev",
        action="store_true",
        default=None,
        help=f"open mode for local demos: no API key or tokens needed; loopback only "
        f"(env {ENV_PREFIX}DEV=1)",
    )
    parser.add_argument(
        "--keep-local",
        action="store_true",
        default=None,
        help=f"with --s3-bucket: keep each file on disk too once it is in the store "
        f"(env {ENV_PREFIX}KEEP_LOCAL=1)",
    )
    parser.add_argument(
        "--estimate-bandwidth",
        action="store_true",
        default=None,
        help="tell publishers the bandwidth estimated from their video packets' timing "
        "(reacts to congestion on long paths; costs CPU per packet) instead of the "
        f"bitrate each video's box needs (env {ENV_PREFIX}ESTIMATE_BANDWIDTH=1)",
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
            raw = env[ENV_PREFIX + name.upper()]
            try:
                values[name] = kind(raw)
            except ValueError:
                raise ConfigError(
                    f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind.__name__}"
                ) from None
    for switch in ("dev", "keep_local", "estimate_bandwidth"):
        given = getattr(args, switch, None)
        from_env = env.get(ENV_PREFIX + switch.upper(), "") in ("1", "true")
        values[switch] = given if given is not None else from_env
    return Config(**{k: v for k, v in values.items() if k in known})  # type: ignore[arg-type]


def with_credentials(config: Config) -> Config:
    """Fills in an unset API key and secret from the data dir, making and keeping
    a random pair there (mode 0600) on first use."""
    if config.api_key and config.api_secret:
        return config
    path = config.credentials_path
    try:
        if path.exists():
            stored = json.loads(path.read_text())
            if not all(isinstance(stored.get(k), str) for k in ("api_key", "api_secret")):
                raise ValueError("api_key and api_secret must be strings")
        else:
            stored = {"api_key": secrets.token_hex(8), "api_secret": secrets.token_urlsafe(32)}
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump(stored, out)
    except OSError as exc:
        raise ConfigError(f"credentials file {path}: {exc.strerror or exc}") from None
    except (ValueError, AttributeError) as exc:
        raise ConfigError(
            f"credentials file {path} cannot be read ({exc}): "
            "fix it, or delete it to make a new key"
        ) from None
    return replace(
        config,
        api_key=config.api_key or stored["api_key"],
        api_secret=config.api_secret or stored["api_secret"],
    )


def config_to_wire(config: Config) -> dict[str, Any]:
    """The whole config as JSON, for a process that records under it."""
    out = asdict(config)
    out["data_dir"] = str(config.data_dir)
    out["auto_record_size"] = list(config.auto_record_size)
    return out


def config_from_wire(raw: dict[str, Any]) -> Config:
    return Config(
        **{
            **raw,
            "data_dir": Path(raw["data_dir"]),
            "auto_record_size": tuple(raw["auto_record_size"]),
            "limits": Limits(**raw["limits"]),
        }
    )
