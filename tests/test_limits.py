"""The pure pieces of hardening: JSON reading, IDs, file names, rate limits."""

from __future__ import annotations

import pytest

from cloudrec import jsonio
from cloudrec.errors import CloudrecError
from cloudrec.ids import MAX_ID_BYTES, check_id, check_participant_id
from cloudrec.wire import OutputSpec, OutputType, individual_spec, parse_filename
from signaling.limits import MAX_TRACKED_ADDRESSES, JoinLimiter, TokenBucket, message_bucket


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[" * 40 + "]" * 40, "nested deeper than 32"),
        ("[" * 100_000, "nested"),
        ("9" * 4301, "number"),
        ('"\\udc80"', "surrogate"),
        ("[Infinity]", "out of range"),
        ("-1e999", "out of range"),
        ("{", "not JSON"),
    ],
)
def test_json_that_python_would_choke_on_is_param_err(text: str, said: str) -> None:
    with pytest.raises(CloudrecError) as caught:
        jsonio.parse(text)
    assert int(caught.value.code) == 5 and said in caught.value.message


def test_json_that_is_fine_stays_as_it_is() -> None:
    assert jsonio.parse('{"a": ["\\ud83d\\ude00", 1e300, 12]}') == {"a": ["😀", 1e300, 12]}
    assert jsonio.parse("[" * 32 + "]" * 32) is not None
    assert jsonio.size({"a": "é"}) == len('{"a":"é"}'.encode())


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("", "non-empty"),
        ("é" * 33, f"{MAX_ID_BYTES} bytes"),  # 33 characters, 66 bytes
        ("a/b", "'/'"),
        ("a\\b", "'\\'"),
        ("a\x00b", "control"),
        ("..", "'.'"),
        (".x", "'.'"),
        (42, "non-empty string"),
    ],
)
def test_ids_refused(value: object, said: str) -> None:
    with pytest.raises(CloudrecError) as caught:
        check_id(value, "user")
    assert int(caught.value.code) == 5 and said in caught.value.message


def test_ids_kept() -> None:
    assert check_id("张三", "user") == "张三"
    assert check_id("é" * 32, "user") == "é" * 32
    assert check_id("recorder-r", "user") == "recorder-r"
    with pytest.raises(CloudrecError):
        check_participant_id("recorder-r")


def test_file_names_are_counted_in_bytes() -> None:
    video = frozenset({"mp4"})
    assert parse_filename("/" + "张" * 80 + ".mp4", "f", video)[1] == "mp4"  # 244 bytes
    for name in ("/" + "张" * 84 + ".mp4", "/d/" + "a" * 250 + ".mp4", "/.a/b.mp4", "/a\x7f.mp4"):
        with pytest.raises(CloudrecError) as caught:
            parse_filename(name, "f", video)
        assert int(caught.value.code) == 1502


def test_a_mode_1_name_is_checked_for_each_participant() -> None:
    spec = OutputSpec(OutputType.FILE, "/m2/{userid}/m2.mp4", "mp4")
    assert individual_spec(spec, "alice").filename == "/m2/alice/m2.mp4"
    for user in ("..", ".", "a/b"):
        with pytest.raises(CloudrecError):
            individual_spec(spec, user)


def test_token_bucket() -> None:
    bucket = TokenBucket.full(rate=2, burst=4, now=0.0)
    assert [bucket.take(0.0) for _ in range(5)] == [True] * 4 + [False]
    assert bucket.take(0.5) and not bucket.take(0.5), "one token in half a second"
    assert [bucket.take(100.0) for _ in range(5)] == [True] * 4 + [False], "never past burst"
    assert message_bucket(50, 0.0).burst == 200


def test_joins_per_address() -> None:
    joins = JoinLimiter(per_minute=3)
    assert [joins.allow("a", 0.0) for _ in range(4)] == [True, True, True, False]
    assert joins.allow("b", 0.0), "each address has its own"
    assert joins.allow("a", 20.0), "one join back every 20 s"
    for n in range(MAX_TRACKED_ADDRESSES + 1):
        joins.allow(f"addr-{n}", 30.0 + n * 1e-6)
    assert len(joins._buckets) <= MAX_TRACKED_ADDRESSES
