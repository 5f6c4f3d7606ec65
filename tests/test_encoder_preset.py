"""The operator's x264 speed preset reaches the recorded file (with the default
preset's narrower motion search), and an unknown one stops the server from
starting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cloudrec.config import DEFAULT_X264_PRESET, Config, ConfigError
from signaling.server import start_server
from tests.conftest import ServerFactory
from tests.helpers import record_briefly

# x264 writes its settings into the stream (an SEI message): the motion-search
# refinement level tells presets apart, and the search method shows veryfast's
# hexagon narrowed to a diamond; faster keeps its own.
SETTINGS = {"ultrafast": ("0", "dia"), DEFAULT_X264_PRESET: ("2", "dia"), "faster": ("4", "hex")}


def x264_setting(path: Path, name: str) -> str:
    found = re.search(rb" " + name.encode() + rb"=(\w+)", path.read_bytes())
    assert found is not None, f"no x264 {name} setting in the file"
    return found.group(1).decode()


@pytest.mark.parametrize("preset", ["ultrafast", DEFAULT_X264_PRESET, "faster"])
async def test_the_preset_reaches_the_encoder(make_server: ServerFactory, preset: str) -> None:
    server = await make_server(x264_preset=preset)
    await record_briefly(server.base_url, "preset", "/preset/p.mp4", ms=500)
    recorded = server.config.recordings_dir / "preset" / "p.mp4"
    subme, me = SETTINGS[preset]
    assert (x264_setting(recorded, "subme"), x264_setting(recorded, "me")) == (subme, me)


async def test_an_unknown_preset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--x264-preset"):
        await start_server(Config(port=0, data_dir=tmp_path, x264_preset="warp"))
