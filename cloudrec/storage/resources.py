"""Images registered for MIXVTP_PIC, kept under the data dir by content hash.

Each image belongs to one room (``rooms/<room>/``), where only that room's
layouts show it and only that room's holders list or delete it; the
operator's images (the folder's top level) are shared by every room.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from cloudrec.errors import CloudrecError, ErrorCode

MAX_BYTES = 10 * 1024 * 1024
MAX_SIDE = 4096
FORMATS = ("PNG", "JPEG")
RESOURCE_ID = re.compile(r"^[0-9a-f]{16}$")


SHARED = None  # the owner of the operator's images, shown in every room


def _room_dir(room: str) -> str:
    """A folder name for any room ID: base64url never holds '.' or '/'."""
    return base64.urlsafe_b64encode(room.encode()).decode().rstrip("=")


def _room_of(folder: str) -> str:
    return base64.urlsafe_b64decode(folder + "=" * (-len(folder) % 4)).decode()


class ResourceStore:
    def __init__(self, directory: Path) -> None:
        self._dir = directory
        directory.mkdir(parents=True, exist_ok=True)

    def _folder(self, room: str | None) -> Path:
        return self._dir if room is SHARED else self._dir / "rooms" / _room_dir(room)

    def _path(self, resource_id: str, room: str | None) -> Path | None:
        if not RESOURCE_ID.match(resource_id):
            return None
        path = self._folder(room) / f"{resource_id}.png"
        return path if path.is_file() and not path.is_symlink() else None

    def _visible(self, resource_id: str, room: str) -> Path | None:
        """What a layout of ``room`` may show: its own image, else a shared one."""
        return self._path(resource_id, room) or self._path(resource_id, SHARED)

    def add(self, data: bytes, room: str | None) -> tuple[str, int, int]:
        """Checks and keeps an image (stored as PNG); returns (id, width, height).
        The id is the content's hash, so the same image registers once."""
        if len(data) > MAX_BYTES:
            raise CloudrecError(ErrorCode.PARAM_ERR, f"image is larger than {MAX_BYTES} bytes")
        try:
            with Image.open(io.BytesIO(data)) as image:
                if image.format not in FORMATS:
                    raise CloudrecError(ErrorCode.PARAM_ERR, "image must be PNG or JPEG")
                if max(image.size) > MAX_SIDE:
                    raise CloudrecError(ErrorCode.PARAM_ERR, f"image sides must be <= {MAX_SIDE}")
                rgba = image.convert("RGBA")
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
            raise CloudrecError(ErrorCode.PARAM_ERR, "body is not a readable PNG or JPEG") from None
        resource_id = hashlib.sha256(data).hexdigest()[:16]
        folder = self._folder(room)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{resource_id}.png"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            rgba.save(tmp, format="PNG")
            tmp.replace(path)
        return resource_id, rgba.width, rgba.height

    def exists(self, resource_id: str, room: str) -> bool:
        return self._visible(resource_id, room) is not None

    def path(self, resource_id: str, room: str) -> Path | None:
        """The PNG a layout of ``room`` shows for ``resource_id``, if any."""
        return self._visible(resource_id, room)

    def list(self, room: str | None, every_room: bool = False) -> list[dict[str, object]]:
        """``room``'s images and the shared ones; with ``every_room``, all."""
        owners: list[str | None] = [SHARED]
        if every_room:
            rooms_dir = self._dir / "rooms"
            folders = sorted(rooms_dir.iterdir()) if rooms_dir.is_dir() else []
            owners += [_room_of(f.name) for f in folders if f.is_dir()]
        elif room is not SHARED:
            owners.append(room)
        found: list[dict[str, object]] = []
        for owner in owners:
            for path in sorted(self._folder(owner).glob("*.png")):
                if path.is_symlink() or not RESOURCE_ID.match(path.stem):
                    continue
                with Image.open(path) as image:
                    found.append(
                        {
                            "resourceid": path.stem,
                            "room": owner,
                            "width": image.width,
                            "height": image.height,
                            "size": path.stat().st_size,
                        }
                    )
        return found

    def delete(self, resource_id: str, room: str | None) -> bool:
        path = self._path(resource_id, room)
        if path is None:
            return False
        path.unlink()
        return True
