"""The operator's x264 speed preset reaches the recorded file, and an unknown
one stops the server from starting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cloudrec.config import DEFAULT_X264_PRESET, Config
from cloudrec.server import ConfigError, start_server
from tests.conftest import ServerFactory
from tests.helpers import record_briefly

# x264 writes its settings into the stream (an SEI message); the motion-search
# refinement level tells presets apart: ultrafast 0, veryfast 2.
SUBME = {"ultrafast": 0, DEFAULT_X264_PRESET: 2}


def x264_subme(path: Path) -> int:
    found = re.search(rb"subme=(\d+)", path.read_bytes())
    assert found is not None, "no x264 settings in the file"
    return int(found.group(1))


@pytest.mark.parametrize("preset", ["ultrafast", DEFAULT_X264_PRESET])
async def test_the_preset_reaches_the_encoder(make_server: ServerFactory, preset: str) -> None:
    server = await make_server(x264_preset=preset)
    await record_briefly(server.base_url, "preset", "/preset/p.mp4", ms=500)
    recorded = server.config.recordings_dir / "preset" / "p.mp4"
    assert x264_subme(recorded) == SUBME[preset]


async def test_an_unknown_preset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--x264-preset"):
        await start_server(Config(port=0, data_dir=tmp_path, x264_preset="warp"))
