"""Images registered for MIXVTP_PIC, kept under the data dir by content hash."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from cloudrec.errors import CloudrecError, ErrorCode
from compositor.picture import Picture

MAX_BYTES = 10 * 1024 * 1024
MAX_SIDE = 4096
FORMATS = ("PNG", "JPEG")
RESOURCE_ID = re.compile(r"^[0-9a-f]{16}$")


class ResourceStore:
    def __init__(self, directory: Path) -> None:
        self._dir = directory
        directory.mkdir(parents=True, exist_ok=True)

    def _path(self, resource_id: str) -> Path | None:
        if not RESOURCE_ID.match(resource_id):
            return None
        path = self._dir / f"{resource_id}.png"
        return path if path.exists() else None

    def add(self, data: bytes) -> tuple[str, int, int]:
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
        path = self._dir / f"{resource_id}.png"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            rgba.save(tmp, format="PNG")
            tmp.replace(path)
        return resource_id, rgba.width, rgba.height

    def exists(self, resource_id: str) -> bool:
        return self._path(resource_id) is not None

    def load(self, resource_id: str) -> Picture | None:
        path = self._path(resource_id)
        if path is None:
            return None
        with Image.open(path) as image:
            rgba = np.asarray(image.convert("RGBA"))
        return Picture(
            np.ascontiguousarray(rgba[..., 2::-1]), rgba[..., 3].astype(np.float32) / 255
        )

    def list(self) -> list[dict[str, object]]:
        found = []
        for path in sorted(self._dir.glob("*.png")):
            with Image.open(path) as image:
                found.append(
                    {
                        "resourceid": path.stem,
                        "width": image.width,
                        "height": image.height,
                        "size": path.stat().st_size,
                    }
                )
        return found

    def delete(self, resource_id: str) -> bool:
        path = self._path(resource_id)
        if path is None:
            return False
        path.unlink()
        return True
