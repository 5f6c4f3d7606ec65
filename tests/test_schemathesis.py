"""schemathesis explores the OpenAPI document against a live server: no input it
generates may produce a server error (5xx) or an undocumented answer."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.helpers import API_AUTH, API_KEY, API_SECRET, serve_process

MAX_EXAMPLES = 25
SEED = 20261125  # deterministic: a failure reproduces with the same inputs
RUN_TIMEOUT_S = 300


async def test_schemathesis_finds_no_server_errors(tmp_path: Path) -> None:
    env = {**os.environ, "CLOUDREC_API_KEY": API_KEY, "CLOUDREC_API_SECRET": API_SECRET}
    server = await serve_process([sys.executable, "-m", "signaling.cli"], tmp_path / "data", env)
    try:
        assert server.stdout is not None
        base = (await asyncio.wait_for(server.stdout.readline(), 30)).decode().split()[-1]
        run = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{base}/api/openapi.json",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--generation-deterministic",
            "-H",
            f"Authorization:{API_AUTH['Authorization']}",
            "--request-timeout",
            "20",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
        )
        out, _ = await asyncio.wait_for(run.communicate(), RUN_TIMEOUT_S)
    finally:
        server.terminate()
        await server.wait()
    report = out.decode(errors="replace")
    assert run.returncode == 0, report[-6000:]
