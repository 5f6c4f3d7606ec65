from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from cloudrec.config import Config, add_arguments, from_arguments
from cloudrec.errors import CloudrecError, ErrorCode
from cloudrec.storage.paths import check_free_disk, recording_path, reserve


def test_paths_stay_inside_the_recordings_directory(tmp_path: Path) -> None:
    root = tmp_path / "recordings"
    root.mkdir()
    assert (
        recording_path(root, "/2026-11-25/demo.mp4") == root.resolve() / "2026-11-25" / "demo.mp4"
    )
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "link").symlink_to(outside)
    with pytest.raises(CloudrecError) as caught:
        recording_path(root, "/link/x.mp4")
    assert caught.value.code is ErrorCode.INVALIDFILENAME


def test_reserve_refuses_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b.mp4"
    reserve(path, "/a/b.mp4")
    assert path.exists()
    with pytest.raises(CloudrecError) as caught:
        reserve(path, "/a/b.mp4")
    assert caught.value.code is ErrorCode.FILEALREADYEXISTS


def test_free_disk(tmp_path: Path) -> None:
    check_free_disk(tmp_path, 0)
    with pytest.raises(CloudrecError) as caught:
        check_free_disk(tmp_path, 1 << 40)
    assert caught.value.code is ErrorCode.RECORD_NO_DISK


def test_flags_win_over_environment_over_defaults() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    env = {"CLOUDREC_PORT": "9000", "CLOUDREC_DATA_DIR": "/srv/rec"}
    config = from_arguments(parser.parse_args([]), env)
    assert (config.port, config.data_dir, config.host) == (9000, Path("/srv/rec"), "127.0.0.1")
    config = from_arguments(parser.parse_args(["--port", "9100"]), env)
    assert config.port == 9100
    assert from_arguments(parser.parse_args([]), {}).port == Config().port
    # A switch: off unless given, as a flag or as 1 in the environment.
    assert not config.estimate_bandwidth
    assert from_arguments(parser.parse_args(["--estimate-bandwidth"]), {}).estimate_bandwidth
    assert from_arguments(
        parser.parse_args([]), {"CLOUDREC_ESTIMATE_BANDWIDTH": "1"}
    ).estimate_bandwidth
    assert config.recordings_dir == Path("/srv/rec/recordings")
