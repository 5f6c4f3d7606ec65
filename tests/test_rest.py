"""REST control of a room's mixer, same JSON as the wire."""

from __future__ import annotations

import aiohttp

from signaling.openapi import openapi_document
from signaling.server import RunningServer
from tests.helpers import (
    API_AUTH,
    BLUE,
    CFG_360P15,
    RED,
    EventLog,
    file_output,
    side_by_side,
    synthetic_participant,
)
from tests.media import decode
from tests.openapi_check import validate


async def test_rest_start_update_state_stop(server: RunningServer) -> None:
    alice = await synthetic_participant(server.base_url, "rest", "alice", RED[0], RED[2])
    bob = await synthetic_participant(server.base_url, "rest", "bob", BLUE[0], BLUE[2])
    log = EventLog()
    log.attach(alice)
    base = f"{server.base_url}/api/v1/rooms/rest"
    try:
        async with aiohttp.ClientSession(headers=API_AUTH) as http:
            async with http.get(base) as resp:
                room = await resp.json()
            camids = {t.get("camid") for p in room["participants"] for t in p["tracks"]}
            assert {"alice.0", "bob.0"} <= camids
            body = {
                "cfgs": CFG_360P15,
                "contents": side_by_side("alice", "bob"),
                "outputs": file_output("/rest/r.mp4"),
            }
            async with http.post(f"{base}/mixer", json=body) as resp:
                assert resp.status == 200
                assert (await resp.json())["state"] == 2
            async with http.post(f"{base}/mixer", json=body) as resp:
                assert resp.status == 409 and (await resp.json())["err"] == 906
            await log.wait_duration(1000)
            async with http.put(
                f"{base}/mixer", json={"contents": side_by_side("bob", "alice")}
            ) as resp:
                assert resp.status == 200
            await log.wait_for(lambda e: e.name == "svrMixerCfgChanged")
            async with http.get(f"{base}/mixer") as resp:
                state = await resp.json()
            assert state["state"] == 2
            validate("MixerState", state)
            assert state["stats"]["videoTicks"] >= 15, "the recorder's counters flow"
            assert state["stats"]["framesDropped"] == 0
            assert state["stats"]["packetsReceived"] > 0, "the bot counts its packets"
            assert state["outputs"][0]["fileName"] == "/rest/r.mp4"
            async with http.delete(f"{base}/mixer") as resp:
                final = await resp.json()
            assert final["state"] == 0 and final["outputs"][0]["state"] == 3
            async with http.delete(f"{base}/mixer") as resp:
                assert resp.status == 200, "stop is idempotent"
    finally:
        await alice.leave()
        await bob.leave()
    started = [e for e in log.named("svrMixerStateChanged") if e.data["state"] == 1]
    assert started[0].data["operatorID"] == "api"
    media = decode(server.config.recordings_dir / "rest" / "r.mp4")
    assert len(media.frames) * 1000 / 15 >= final["outputs"][0]["duration"] - 100


def test_one_naming_convention_across_the_rest_surface() -> None:
    """camelCase (the SDK's own), in every schema and parameter the document
    names; the netdisk API keeps the SDK's PascalCase fields as they are."""

    def names(node: object) -> list[str]:
        found: list[str] = []
        if isinstance(node, dict):
            found += list(node.get("properties", {}))
            if node.get("in") == "query":
                found.append(node["name"])
            for value in node.values():
                found += names(value)
        elif isinstance(node, list):
            for value in node:
                found += names(value)
        return found

    document = openapi_document()
    netdisk = {"NetdiskQuery", "NetdiskDelete", "NetdiskAnswer"}
    schemas = {k: v for k, v in document["components"]["schemas"].items() if k not in netdisk}
    seen = names(schemas) + names(document["paths"])
    assert "fileName" in seen and "createdAt" in seen
    assert [n for n in seen if "_" in n or n[:1].isupper()] == []
