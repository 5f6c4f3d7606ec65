"""The demo page in real headless Chromium with fake camera and microphone."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, ViewportSize, async_playwright

from signaling.server import RunningServer
from tests.conftest import ServerFactory
from tests.helpers import record_briefly, serve_process, token, write_media_file
from tests.media import decode, region_mean, shows_color, tone_present

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # getDisplayMedia picks the (fake) screen without a picker.
    "--auto-select-desktop-capture-source=Entire screen",
    # A shared file starts playing on its own (a person's file choice counts as a gesture).
    "--autoplay-policy=no-user-gesture-required",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "browser"
UI_TIMEOUT_MS = 30_000
# `cloudrec serve` prints its banner once it listens: a cold start of Python.
BANNER_TIMEOUT_S = 30
# Chromium's fake camera draws a moving pattern on a bright background.
NOT_BLACK = 40
# Keeps every RTCPeerConnection a page makes where a test can read its senders.
KEEP_PEER_CONNECTIONS = """
window.peerConnections = [];
const Native = window.RTCPeerConnection;
window.RTCPeerConnection = function (...args) {
  const pc = new Native(...args);
  window.peerConnections.push(pc);
  return pc;
};
window.RTCPeerConnection.prototype = Native.prototype;
"""
# [scaleResolutionDownBy, maxFramerate, camera width, camera height] of the
# camera sent to the recorder (its connection is send-only), once scaled.
SCALED_CAMERA = """(() => {
  for (const pc of window.peerConnections) for (const t of pc.getTransceivers()) {
    const track = t.sender.track;
    if (t.direction !== 'sendonly' || !track || track.kind !== 'video') continue;
    const [e] = t.sender.getParameters().encodings;
    const { width, height } = track.getSettings();
    if (e && e.scaleResolutionDownBy > 1) {
      return [e.scaleResolutionDownBy, e.maxFramerate, width, height];
    }
  }
  return null;
})()"""


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (scripts/setup --test installs it)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        await launched.close()


async def open_page(browser: Browser, url: str, errors: list[str]) -> Page:
    context = await browser.new_context(accept_downloads=True)
    page = await context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.add_init_script(KEEP_PEER_CONNECTIONS)
    await page.goto(url)
    return page


async def join(page: Page, room: str, user: str) -> None:
    """Joins as a person would: what the token fixes is filled in already."""
    for field, value in (("#room", room), ("#user", user)):
        if await page.is_editable(field):
            await page.fill(field, value)
        else:
            assert await page.input_value(field) == value
    await page.click("button[type=submit]")
    await page.wait_for_selector("#room-panel:not([hidden])")


async def joined(
    browser: Browser, server: RunningServer, room: str, user: str, errors: list[str]
) -> Page:
    """A page opened with the user's token, joined to the room."""
    page = await open_page(browser, f"{server.base_url}/?token={token(room, user)}", errors)
    await join(page, room, user)
    return page


async def wait_recorded(page: Page, seconds: float) -> None:
    """Until the page's outputs table shows this much recorded."""
    await page.wait_for_function(
        "[...document.querySelectorAll('#outputs tbody tr td:nth-child(3)')]"
        f".some(td => parseFloat(td.textContent) >= {seconds})"
    )


# From the table's duration when the other participant sees a share to its
# frames in the recording: the table runs up to a second behind the file (one
# output info a second), then the recorder's own negotiation, a keyframe, a
# tick, and the playout delay's rise for a stream that starts late. Alone it
# took 0 to 3.4 s in six runs here; a full run of the suite (two workers and
# their browsers on two cores) once took 4.8 s, from a table that read 0.1 s.
SHARE_SETTLE_S = 5.0


async def recorded_seconds(page: Page) -> float:
    """How much the page's outputs table shows recorded now."""
    done: float = await page.evaluate(
        "Math.max(0, ...[...document.querySelectorAll('#outputs tbody tr td:nth-child(3)')]"
        ".map(td => parseFloat(td.textContent)))"
    )
    return done


async def record_in_page_stop(page: Page, more_seconds: float) -> None:
    """Records this much more, then stops through the page."""
    await wait_recorded(page, await recorded_seconds(page) + more_seconds)
    await page.click("#stop")
    await page.wait_for_function("document.getElementById('state').textContent === 'not recording'")


async def record_in_page(page: Page, seconds: float) -> None:
    """Start, this much recorded, stop: all through the page."""
    await page.click("#start")
    await wait_recorded(page, seconds)
    await page.click("#stop")
    await page.wait_for_function("document.getElementById('state').textContent === 'not recording'")


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_meeting_records_itself(server: RunningServer, browser: Browser) -> None:
    errors: list[str] = []
    ann = await open_page(browser, f"{server.base_url}/?token={token('web', 'ann')}", errors)
    await shot(ann, "01-join")
    await join(ann, "web", "ann")
    ben = await joined(browser, server, "web", "ben", errors)
    await ann.wait_for_function("document.querySelectorAll('#people li').length >= 2")
    await shot(ann, "02-joined")

    await ann.select_option("#size", "640x360")
    await ann.select_option("#preset", "side")
    await ann.click("#start")
    for page in (ann, ben):
        await page.wait_for_function("document.getElementById('state').textContent === 'recording'")
        # Everyone sees that they are recorded, and by whose call.
        await page.wait_for_selector("#recording-indicator:not([hidden])")
        assert "started by ann" in await page.inner_text("#recording-indicator")
    # Each camera is sent just large enough for its 320x360 half of the canvas.
    scaled = await (await ben.wait_for_function(SCALED_CAMERA)).json_value()
    scale, max_fps, cam_w, cam_h = scaled
    assert scale == pytest.approx(min(cam_w / 320, cam_h / 360)), scaled
    assert max_fps == int(await ann.input_value("#fps")), scaled
    await wait_recorded(ben, 3)
    await shot(ben, "03-recording-seen-by-ben")
    await ann.click("#preview-button")
    await ann.wait_for_function(
        "(() => { const v = document.getElementById('preview');"
        " return v.videoWidth === 640 && v.videoHeight === 360 && v.currentTime > 1; })()"
    )
    tiles = await ann.evaluate(
        "(() => { const v = document.getElementById('preview');"
        " const c = Object.assign(document.createElement('canvas'), {width: 640, height: 360});"
        " const g = c.getContext('2d'); g.drawImage(v, 0, 0);"
        " const at = (x, y) => [...g.getImageData(x, y, 1, 1).data].slice(0, 3);"
        " return [at(160, 180), at(480, 180), at(320, 20)]; })()"
    )
    left, right, _ = tiles
    assert max(left) > NOT_BLACK and max(right) > NOT_BLACK, f"the live mix: {tiles}"
    await shot(ann, "03b-live-preview")
    # Paused: everyone sees it; resumed from the same button.
    await ann.click("#pause")
    await ben.wait_for_function(
        "document.getElementById('recording-indicator').textContent.startsWith('Recording paused')"
    )
    await ann.wait_for_selector("#pause[aria-pressed=true]")
    await shot(ann, "03c-paused")
    await ann.click("#pause")
    await ann.wait_for_function("document.getElementById('state').textContent === 'recording'")
    assert await ann.inner_text("#pause") == "Pause"
    await ann.click("#stop")
    await ann.wait_for_function("document.getElementById('state').textContent === 'not recording'")
    await ben.wait_for_selector("#recording-indicator", state="hidden")
    await ann.wait_for_selector("#recordings tbody tr")
    # Its poster frame, fetched with the page's credentials, is shown in the list.
    await ann.wait_for_function(
        "(() => { const i = document.querySelector('#recordings tbody tr img.poster');"
        " return i && i.complete && i.naturalWidth === 320; })()"
    )
    await shot(ann, "04-stopped-listed")

    (rec,) = server.recordings.index.all()
    path = Path(rec.path)
    await ann.click("#recordings tbody tr button:has-text('Play')")
    await ann.wait_for_function(
        "document.getElementById('player').currentTime > 1", timeout=UI_TIMEOUT_MS
    )
    await ann.evaluate(
        "new Promise(done => { const v = document.getElementById('player');"
        " v.addEventListener('seeked', done, {once: true}); v.currentTime = 0.5; })"
    )
    await ann.wait_for_function(
        "Math.abs(document.getElementById('player').currentTime - 0.5) < 0.5"
    )
    await shot(ann, "05-playing")
    async with ann.expect_download() as waiting:
        await ann.click("#recordings tbody tr a:has-text('Download')")
    download = await waiting.value
    assert Path(await download.path()).read_bytes() == path.read_bytes()

    media = decode(path)
    frame = media.frame_at(media.duration - 0.5)
    assert (media.width, media.height) == (640, 360)
    assert region_mean(frame, 0, 60, 320, 240).mean() > NOT_BLACK, "ann's fake camera"
    assert region_mean(frame, 320, 60, 320, 240).mean() > NOT_BLACK, "ben's fake camera"
    assert np.abs(media.audio).max() > 0.01, "the fake microphones are heard"

    await ann.click("#recordings tbody tr button:has-text('Delete')")
    await ann.wait_for_function("document.querySelectorAll('#recordings tbody tr').length === 0")
    assert not path.exists()
    await shot(ann, "06-deleted")
    assert errors == [], errors


async def test_a_bad_layout_shows_the_servers_error(
    server: RunningServer, browser: Browser
) -> None:
    errors: list[str] = []
    page = await joined(browser, server, "bad", "cy", errors)
    await page.fill("#fps", "0")
    await page.click("#start")
    await page.wait_for_selector("#error:not([hidden])")
    message = await page.text_content("#error")
    assert message is not None and "frameRate" in message and "error 5" in message
    await shot(page, "07-bad-layout")
    assert errors == []


async def test_dev_mode_says_so(make_server: ServerFactory, browser: Browser) -> None:
    server = await make_server(dev=True)
    errors: list[str] = []
    page = await open_page(browser, server.base_url, errors)
    # Shown once the page has the server's info: waited for, not read at once.
    await page.wait_for_selector("#dev-banner:not([hidden])")
    assert await page.is_visible("#dev-banner")
    await join(page, "dev-room", "dee")
    await shot(page, "08-dev-mode")
    assert errors == []


async def test_whiteboard_is_shared_and_recorded(server: RunningServer, browser: Browser) -> None:
    errors: list[str] = []
    ann = await joined(browser, server, "wbr", "ann", errors)
    ben = await joined(browser, server, "wbr", "ben", errors)
    await ann.locator("#board").scroll_into_view_if_needed()  # beside the stage, lower down
    box = await ann.locator("#board").bounding_box()
    assert box is not None
    await ann.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.3)
    await ann.mouse.down()
    for i in range(1, 11):
        t = 0.2 + 0.06 * i
        await ann.mouse.move(box["x"] + box["width"] * t, box["y"] + box["height"] * (t + 0.1))
    await ann.mouse.up()
    await ben.wait_for_function("window.board.strokes.size === 1")
    middle = await ben.evaluate(
        "(() => { const c = document.getElementById('board');"
        " const pixel = c.getContext('2d').getImageData(c.width * 0.5, c.height * 0.6, 1, 1);"
        " return [...pixel.data]; })()"
    )
    assert middle[0] > 150 and middle[1] < 100, f"ann's red stroke on ben's board: {middle}"
    await shot(ben, "09-whiteboard-on-ben")

    await ann.select_option("#size", "640x360")
    await ann.select_option("#preset", "board")
    await record_in_page(ann, 2)
    (rec,) = server.recordings.index.all()
    frame = decode(Path(rec.path)).frame_at(1.0)
    # The board fills 480x270 of the 480x360 stage (16:9), from y = 45.
    x, y = int(480 * 0.5), 45 + int(270 * 0.6)
    pixel = frame[y, x].astype(int)
    assert pixel[0] > 150 and pixel[1] < 100, f"the stroke in the recording: {pixel}"
    assert frame[60, 20].min() > 200, "a white board"
    assert errors == [], errors


async def test_participants_see_each_other(server: RunningServer, browser: Browser) -> None:
    errors: list[str] = []
    ann = await joined(browser, server, "mesh", "ann", errors)
    ben = await joined(browser, server, "mesh", "ben", errors)
    for page, other in ((ann, "ben"), (ben, "ann")):
        await page.wait_for_function(
            f"(() => {{ const v = document.querySelector('video[data-user=\"{other}\"]');"
            " return v && v.videoWidth > 0 && v.currentTime > 0.5"
            " && v.srcObject.getAudioTracks().length === 1; })()"
        )
    # The stage: a tile each, named, in a grid of two columns.
    captions = await ann.eval_on_selector_all(
        "#videos .tile figcaption", "cs => cs.map(c => c.textContent)"
    )
    assert captions == ["ann (you)", "ben"]
    cols = await ann.eval_on_selector("#videos", "s => s.style.getPropertyValue('--cols')")
    assert cols == "2"
    # Who is heard is ringed (the fake microphones beep), and a muted one is not.
    await ann.wait_for_selector("#videos .tile.speaking:has(video[data-user='ben'])")
    await ben.click("#mic")
    assert await ben.get_attribute("#mic", "aria-pressed") == "true"
    await ben.wait_for_function(
        "!document.getElementById('local-tile').classList.contains('speaking')"
        " && !document.getElementById('local').srcObject.getAudioTracks()[0].enabled"
    )
    await shot(ann, "10-ann-sees-ben")
    # The toolbar records and stops; the other sees it.
    await ann.click("#record")
    await ben.wait_for_selector("#recording-indicator:not([hidden])")
    assert await ann.get_attribute("#record", "aria-pressed") == "true"
    await wait_recorded(ann, 1)
    await shot(ann, "10b-toolbar-recording")
    await ann.click("#record")
    await ann.wait_for_function("document.getElementById('state').textContent === 'not recording'")
    await ann.wait_for_selector("#recordings tbody tr")
    await ben.click("#leave")
    await ann.wait_for_function("!document.querySelector('video[data-user=\"ben\"]')")
    assert await ann.eval_on_selector_all("#videos .tile", "ts => ts.length") == 1
    assert errors == [], errors


async def test_screen_share_reaches_the_others_and_the_recording(
    server: RunningServer, browser: Browser
) -> None:
    errors: list[str] = []
    ann = await joined(browser, server, "scr", "ann", errors)
    ben = await joined(browser, server, "scr", "ben", errors)
    await ann.select_option("#size", "640x360")
    await ann.select_option("#preset", "screen")
    await ann.click("#start")
    await ann.wait_for_function("document.getElementById('state').textContent === 'recording'")
    await ann.click("#share")
    await ann.wait_for_function("document.getElementById('share').textContent === 'Stop sharing'")
    await ben.wait_for_function(
        "[...document.querySelectorAll('video[data-user=\"ann\"]')]"
        ".filter(v => v.videoWidth === 1280 && v.currentTime > 0.5).length === 1"
    )
    await shot(ben, "11-ben-sees-anns-screen")
    shown = await recorded_seconds(ann)  # file time by which the share was on its way
    await wait_recorded(ann, shown + SHARE_SETTLE_S + 1)
    await ann.click("#share")  # stop sharing: the stage goes black again
    await ann.wait_for_function("document.getElementById('share').textContent === 'Share screen'")
    await ben.wait_for_function(
        "![...document.querySelectorAll('#people li')]"
        ".some(li => li.textContent.includes('screen'))"
    )
    await record_in_page_stop(ann, 2)
    (rec,) = server.recordings.index.all()
    media = decode(Path(rec.path))
    stage = (40, 100, 400, 160)
    assert region_mean(media.frame_at(0.3), *stage).mean() < 25, "black before the share"
    on_stage = media.frame_at(shown + SHARE_SETTLE_S)

    def first_on_stage() -> float | None:
        """For a miss's message only: when the share did reach the stage."""
        steps = range(round(shown * 10), round(media.duration * 10))
        seen = (
            t / 10 for t in steps if region_mean(media.frame_at(t / 10), *stage).mean() > NOT_BLACK
        )
        return next(seen, None)

    assert region_mean(on_stage, *stage).mean() > NOT_BLACK, (
        f"on the stage from {first_on_stage()} s, shown at {shown} s"
    )
    assert region_mean(media.frame_at(media.duration - 0.3), *stage).mean() < 25, "black after"
    assert errors == [], errors


async def test_layout_editor_by_keyboard(server: RunningServer, browser: Browser) -> None:
    errors: list[str] = []
    page = await joined(browser, server, "edit", "ann", errors)
    await page.select_option("#size", "640x360")
    await page.select_option("#preset", "single")
    await page.focus("#editor .box")
    for _ in range(40):  # 40 steps of 8 px: the tile becomes 320 px narrower
        await page.keyboard.press("Shift+ArrowLeft")
    await shot(page, "12-edited-layout")
    await record_in_page(page, 2)
    (rec,) = server.recordings.index.all()
    frame = decode(Path(rec.path)).frame_at(1.5)
    assert region_mean(frame, 0, 60, 320, 240).mean() > NOT_BLACK, "the camera, in 320 px"
    assert region_mean(frame, 340, 60, 300, 240).mean() < 25, "nothing right of it"
    assert errors == [], errors


async def test_phone_sized_screen_and_keyboard_join(
    server: RunningServer, browser: Browser
) -> None:
    context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = await context.new_page()
    await page.goto(f"{server.base_url}/?token={token('phone', 'dee')}")
    await page.focus("#room")
    await page.keyboard.press("Control+A")
    await page.keyboard.type("phone")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Control+A")
    await page.keyboard.type("dee")
    await page.keyboard.press("Enter")  # submits the form: no pointer needed
    await page.wait_for_selector("#room-panel:not([hidden])")
    overflow = await page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{overflow} px of sideways scrolling on a phone"
    await shot(page, "13-phone")
    await context.close()


async def test_a_local_file_is_shared_and_recorded(
    server: RunningServer, browser: Browser, tmp_path: Path
) -> None:
    movie = tmp_path / "movie.mp4"
    write_media_file(movie)
    errors: list[str] = []
    ann = await joined(browser, server, "film", "ann", errors)
    await ann.select_option("#size", "640x360")
    await ann.select_option("#preset", "media")
    await ann.click("#start")
    await ann.wait_for_function("document.getElementById('state').textContent === 'recording'")
    await ann.set_input_files("#media-file", str(movie))
    await ann.wait_for_selector("#media-stop:not([hidden])")
    await wait_recorded(ann, 1)
    await record_in_page_stop(ann, 3)
    (rec,) = server.recordings.index.all()
    media = decode(Path(rec.path))
    stage = media.frame_at(media.duration - 0.5)
    assert shows_color(stage, (40, 100, 400, 160), (0, 220, 0)), "the film on the stage"
    assert tone_present(media.audio, media.audio_rate, 880.0), "and its sound in the mix"
    assert errors == [], errors


async def test_the_banner_link_joins_as_printed(browser: Browser, tmp_path: Path) -> None:
    """What a newcomer does first: run the server, open the link it prints,
    press Join. The page takes the name from the link's token and says so."""
    env = {**os.environ}
    for name in ("CLOUDREC_API_KEY", "CLOUDREC_API_SECRET", "CLOUDREC_DEV"):
        env.pop(name, None)
    server = await serve_process([sys.executable, "-m", "signaling.cli"], tmp_path / "data", env)
    try:
        assert server.stdout is not None
        lines = [await asyncio.wait_for(server.stdout.readline(), BANNER_TIMEOUT_S) for _ in "ab"]
        link = lines[1].decode().split()[-1]
        assert link.startswith("http://127.0.0.1:") and "?token=" in link
        errors: list[str] = []
        page = await open_page(browser, link, errors)
        await page.wait_for_selector("#user-hint:not([hidden])")
        assert not await page.is_editable("#user")
        await shot(page, "00-banner-link")
        await page.click("button[type=submit]")
        await page.wait_for_selector("#room-panel:not([hidden])")
        assert await page.is_visible("#room-panel") and not await page.is_visible("#join-panel")
        assert errors == []
    finally:
        server.terminate()
        await server.wait()


async def test_nothing_of_the_room_shows_before_joining(
    server: RunningServer, browser: Browser
) -> None:
    errors: list[str] = []
    page = await open_page(browser, f"{server.base_url}/?token={token('vis', 'vic')}", errors)
    await page.wait_for_selector("#join-form")
    room_parts = ("#room-panel", "#people", "#recordings", "#board", "#local", "#start")
    for part in room_parts:
        assert not await page.is_visible(part), part
    await join(page, "vis", "vic")
    assert await page.is_visible("#room-panel") and not await page.is_visible("#join-panel")
    await page.click("#leave")
    await page.wait_for_selector("#join-panel:not([hidden])")
    for part in room_parts:
        assert not await page.is_visible(part), part
    assert await page.is_visible("#join-form button[type=submit]")
    assert errors == []


async def test_each_recording_is_listed_once(server: RunningServer, browser: Browser) -> None:
    """Two recordings stopped back to back: each stop refreshes the list, and
    a refresh by hand runs beside them; the table holds each recording once."""
    errors: list[str] = []
    page = await joined(browser, server, "twice", "tia", errors)
    for name in ("/twice/a.mp4", "/twice/b.mp4"):
        await record_briefly(server.base_url, "twice", name, ms=1000)
        await page.click("#refresh")
    listed = "document.querySelectorAll('#recordings tbody tr').length"
    await page.wait_for_function(f"{listed} >= 2")
    answered: list[str] = []
    page.on("response", lambda r: answered.append(r.url) if "/recordings?" in r.url else None)
    # Two refreshes under way at once, as a stop event and a click make them.
    await page.evaluate("for (const _ of [1, 2]) document.getElementById('refresh').click()")
    await page.wait_for_function(f"{listed} === 2")
    while len(answered) < 2:
        await page.wait_for_event("response")
    await page.wait_for_function(f"{listed} === 2")
    names = await page.eval_on_selector_all(
        "#recordings tbody tr td:nth-child(2)", "cells => cells.map(c => c.textContent)"
    )
    assert sorted(names) == ["/twice/a.mp4", "/twice/b.mp4"]
    assert errors == []


LAPTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
# What axe-core counts as blocking a person: these must be none on every screen.
BLOCKING_IMPACTS = ("serious", "critical")


async def accessibility(page: Page, screen: str) -> dict[str, int]:
    """axe-core's violations on the page as it stands, by impact; a shot of the
    screen at laptop and phone widths beside them."""
    counts: dict[str, int] = {}
    for width, size in (("laptop", LAPTOP), ("phone", PHONE)):
        await page.set_viewport_size(size)
        await shot(page, f"a11y-{screen}-{width}")
        results = await Axe().run(page)
        for violation in results.response["violations"]:
            impact = violation["impact"] or "unknown"
            counts[impact] = counts.get(impact, 0) + len(violation["nodes"])
            if impact in BLOCKING_IMPACTS:
                targets = [n["target"] for n in violation["nodes"]]
                raise AssertionError(f"{screen} ({width}): {violation['id']} at {targets}")
    await page.set_viewport_size(LAPTOP)
    return counts


async def test_each_screen_is_accessible(server: RunningServer, browser: Browser) -> None:
    """axe-core, injected into the real Chromium, finds nothing serious or
    critical on the join screen, in the room, while recording and after."""
    errors: list[str] = []
    page = await open_page(browser, f"{server.base_url}/?token={token('a11y', 'ada')}", errors)
    await page.wait_for_selector("#join-form")
    found = {"join": await accessibility(page, "join")}
    await join(page, "a11y", "ada")
    found["room"] = await accessibility(page, "room")
    await page.click("#start")
    await page.wait_for_selector("#recording-indicator:not([hidden])")
    await wait_recorded(page, 1)
    found["recording"] = await accessibility(page, "recording")
    await page.click("#stop")
    await page.wait_for_selector("#recordings tbody tr")
    found["recordings"] = await accessibility(page, "recordings")
    (ARTIFACTS / "a11y-counts.json").write_text(json.dumps(found, indent=2))
    assert errors == []
