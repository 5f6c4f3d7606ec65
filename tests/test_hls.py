"""HLS output: a playlist and 2-second segments, playable while and after
recording, served through the recordings API with the playlist's names."""

from __future__ import annotations

import asyncio

import aiohttp

from signaling.server import RunningServer
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
    folder = root / ".show.m3u8.segments"
    playlist = (root / "show.m3u8").read_text()
    segments = sorted(p.name for p in folder.iterdir())
    assert "#EXT-X-ENDLIST" in playlist and len(segments) >= 2
    assert all(f".show.m3u8.segments/{name}" in playlist for name in segments)
    media = decode(root / "show.m3u8")
    assert media.duration >= 4.5 and media.video_codec == "h264"
    assert shows_color(media.frame_at(media.duration - 0.3), (0, 0, 640, 360), RED[1])

    rec = server.recordings.index.by_name("/hls/show.m3u8")
    assert rec is not None
    total = (root / "show.m3u8").stat().st_size + sum(p.stat().st_size for p in folder.iterdir())
    assert rec.size == total, "the size counts the segments"
    base = f"{server.base_url}/api/v1/recordings/{rec.id}"
    async with aiohttp.ClientSession(headers=API_AUTH) as http:
        async with http.get(f"{base}/download") as resp:
            assert resp.headers["Content-Type"].startswith("application/vnd.apple.mpegurl")
            assert await resp.text() == playlist
        first = f".show.m3u8.segments/{segments[0]}"
        async with http.get(f"{base}/{first}") as resp:
            assert resp.status == 200 and await resp.read() == (folder / segments[0]).read_bytes()
        for wrong in (".other.m3u8.segments/00000.ts", ".show.m3u8.segments/x.ts"):
            async with http.get(f"{base}/{wrong}") as resp:
                assert resp.status == 404
        async with http.delete(base) as resp:
            assert resp.status == 200
    assert list(root.iterdir()) == [], "the segments go with their playlist"


async def test_hls_plays_through_its_signed_link(server: RunningServer) -> None:
    """downUrl needs no credentials: the playlist it serves names its segments by
    signed links, which a player (FFmpeg here) follows over HTTP."""
    alice = await synthetic_participant(server.base_url, "hls", "alice", RED[0], RED[2])
    outputs = [{"id": "1", "output": [{"type": 0, "filename": "/hls/signed.m3u8"}]}]
    await record_for(alice, CFG_360P15, CONTENT, outputs, 4500)
    rec = server.recordings.index.by_name("/hls/signed.m3u8")
    assert rec is not None
    async with (
        aiohttp.ClientSession(headers=API_AUTH) as http,
        http.get(f"{server.base_url}/api/v1/recordings/{rec.id}") as resp,
    ):
        down_url = (await resp.json())["downUrl"]
    media = await asyncio.to_thread(decode, down_url)
    assert media.duration >= 4.0 and shows_color(
        media.frame_at(media.duration - 0.3), (0, 0, 640, 360), RED[1]
    )
    async with aiohttp.ClientSession() as http:
        unsigned = down_url.split("?")[0].replace(f"/download/{rec.id}", f"/download/{rec.id}/")
        async with http.get(unsigned + ".signed.m3u8.segments/00000.ts") as resp:
            assert resp.status == 403, "a segment needs the signature too"
