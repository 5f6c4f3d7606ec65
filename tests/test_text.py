from __future__ import annotations

import numpy as np

from cloudrec.wire import Content, ContentType, KeepAspect
from compositor.compose import Compositor
from compositor.text import Run, find_font, parse_markup, render
from signaling.server import RunningServer
from tests.helpers import BLUE, file_output, full_canvas, record_for, synthetic_participant
from tests.media import decode, shows_color

FONT = find_font()


def glyphs(text: str) -> np.ndarray:
    _, alpha = render(
        [[Run(text, "#FFFFFF", 32)]], 48, 48, background="#00000000", margin=4, font=FONT
    )
    return alpha


def test_cjk_draws_real_glyphs() -> None:
    assert FONT is not None and "wqy" in FONT.name, "the install brings a CJK font"
    zhang, san, question = glyphs("张"), glyphs("三"), glyphs("?")
    # A font without CJK draws the same box (or '?') for every character.
    assert not np.array_equal(zhang, san)
    assert not np.array_equal(zhang, question)
    assert zhang.sum() > san.sum() > 10, "张 has more strokes than 三"


def test_markup() -> None:
    lines = parse_markup(
        "a &amp; b <span style='font-size:14px;color:#e21918'>red</span><br>two<b>!</b>",
        "#FFFFFF",
        18,
    )
    assert lines == [
        [Run("a & b ", "#FFFFFF", 18), Run("red", "#e21918", 14)],
        [Run("two!", "#FFFFFF", 18)],
    ]
    assert parse_markup("<span style='color:bogus'>x</span>", "#FFFFFF", 18) == [
        [Run("x", "#FFFFFF", 18)]
    ]


def test_text_content_sized_to_its_text_and_timestamp_expanded() -> None:
    comp = Compositor(640, 360)
    text = Content(
        ContentType.TEXT,
        10,
        300,
        0,
        0,
        KeepAspect.KEEP,
        {"text": "%timestamp%", "background": "#000000FF"},
    )
    a = comp.compose([text], {}, 1_900_000_000.0).to_bgr()
    b = comp.compose([text], {}, 1_900_000_001.0).to_bgr()
    assert not np.array_equal(a, b), "%timestamp% follows the clock"
    rows, cols = np.nonzero(a.max(axis=2) > 100)
    assert rows.min() >= 300 and cols.min() >= 10 and cols.max() < 300, "sized to the text"


async def test_text_in_a_recording(server: RunningServer) -> None:
    bob = await synthetic_participant(server.base_url, "txt", "bob", BLUE[0], BLUE[2])
    contents = [
        {
            "id": "1",
            "content": [
                full_canvas("bob"),
                {
                    "type": 7,
                    "left": 20,
                    "top": 280,
                    "width": 300,
                    "height": 60,
                    "param": {"text": "张三 发言中", "font-size": 32, "background": "#00000000"},
                },
            ],
        }
    ]
    cfgs = [{"id": "1", "cfg": {"width": 640, "height": 360, "frameRate": 15}}]
    await record_for(bob, cfgs, contents, file_output("/t/text.mp4"), 2000)
    frame = decode(server.config.recordings_dir / "t" / "text.mp4").frame_at(1.5)
    box = frame[280:340, 20:320].astype(int)
    white = (box.min(axis=2) > 200).sum()
    assert white > 300, "white glyph strokes over the camera"
    assert shows_color(frame, (340, 40, 280, 200), BLUE[1]), "the camera elsewhere"
