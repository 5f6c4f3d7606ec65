"""Everything the recorder uses of aiortc beyond its public API, in one place.

Two hooks: the decode tap (recorder/ingest.py) takes the place of a receiver's
decoder queue, a name-mangled attribute, so that frames are decoded where they
arrive; and the Opus decoder (recorder/opus.py) is one of aiortc's decoders,
fed aiortc's jitter-buffer frames. pyproject.toml pins aiortc to the releases
these were tested with, and tests/test_ingest.py checks the installed one. An
aiortc laid out otherwise is refused loudly, never worked around.
"""

from __future__ import annotations

import queue
import threading
from importlib.metadata import version
from typing import Any

from aiortc import RTCRtpReceiver
from aiortc.codecs import get_decoder
from aiortc.codecs.base import Decoder
from aiortc.jitterbuffer import JitterFrame

__all__ = ["Decoder", "JitterFrame", "get_decoder", "take_decoder_queue"]

_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"
_THREAD_ATTR = "_RTCRtpReceiver__decoder_thread"
# Set by the decoder after a failure: aiortc then asks the sender for a keyframe.
_ERROR_ATTR = "_RTCRtpReceiver__decoder_error"


class UnsupportedAiortcError(RuntimeError):
    """This aiortc's receiver is not laid out as the recorder expects."""


def take_decoder_queue(receiver: RTCRtpReceiver, stand_in: Any) -> threading.Event:
    """Puts ``stand_in`` (``put(item)``, ``get()``) where ``receiver``'s decoder
    thread takes its encoded frames from; returns the event that, once set, has
    aiortc ask the sender for a keyframe. Before the receiver starts (from the
    peer connection's ``track`` event)."""
    current = getattr(receiver, _QUEUE_ATTR, None)
    error = getattr(receiver, _ERROR_ATTR, None)
    if not isinstance(current, queue.Queue) or not isinstance(error, threading.Event):
        raise UnsupportedAiortcError(
            f"aiortc {version('aiortc')} keeps no decoder queue where the recorder "
            "expects one; pyproject.toml names the releases it was tested with"
        )
    if getattr(receiver, _THREAD_ATTR, None) is not None:
        raise ValueError("the receiver has started: its frames go to its own decoder")
    setattr(receiver, _QUEUE_ATTR, stand_in)
    return error
