"""HLS output: a playlist and 2-second segments, playable while and after
recording, served through the recordings API with the playlist's names."""

from __future__ import annotations

import aiohttp

from cloudrec.server import RunningServer
from tests.helpers import API_AUTH, CFG_360P15, RED, full_canvas, record_for, synthetic_participant
from tests.media import decode, shows_color

CONTENT = [
    {
        "id": "1",
        "content": [full_canvas("alice")],
    }
]


async def test_hls_playlist_segments_and_api(server: RunningServer) -> None:
    alice = await synthetic_participant(server.base_url, "hls", "alice", RED[0], RED[2])
    outputs = [{"id": "1", "output": [{"type": 0, "filename": "/hls/show.m3u8"}]}]
    await record_for(alice, CFG_360P15, CONTENT, outputs, 5000)

    root = server.config.recordings_dir / "hls"
    playlist = (root / "show.m3u8").read_text()
    segments = sorted(p.name for p in root.glob("show_*.ts"))
    assert "#EXT-X-ENDLIST" in playlist and len(segments) >= 2
    assert all(name in playlist for name in segments)
    media = decode(root / "show.m3u8")
    assert media.duration >= 4.5 and media.video_codec == "h264"
    assert shows_color(media.frame_at(media.duration - 0.3), (0, 0, 640, 360), RED[1])

    rec = server.recordings.index.by_name("/hls/show.m3u8")
    assert rec is not None
    total = sum(p.stat().st_size for p in root.iterdir())
    assert rec.size == total, "the size counts the segments"
    base = f"{server.base_url}/api/v1/recordings/{rec.id}"
    async with aiohttp.ClientSession(headers=API_AUTH) as http:
        async with http.get(f"{base}/download") as resp:
            assert resp.headers["Content-Type"].startswith("application/vnd.apple.mpegurl")
            assert await resp.text() == playlist
        async with http.get(f"{base}/{segments[0]}") as resp:
            assert resp.status == 200 and await resp.read() == (root / segments[0]).read_bytes()
        async with http.get(f"{base}/other_00000.ts") as resp:
            assert resp.status == 404
        async with http.delete(base) as resp:
            assert resp.status == 200
    assert list(root.iterdir()) == [], "the segments go with their playlist"
