"""The distribution as a user installs it: `pip install .` (not editable) into
a fresh virtual environment installs the import names cloudrec, recorder,
signaling and compositor alone, and `cloudrec serve` run from elsewhere
serves the demo page."""

from __future__ import annotations

import asyncio
import os
import shutil
import site
import subprocess
import venv
from pathlib import Path

import aiohttp

from tests.helpers import API_KEY, API_SECRET, serve_process

CHECKOUT = Path(__file__).resolve().parent.parent
IMPORT_NAMES = {"cloudrec", "recorder", "signaling", "compositor"}
INSTALL_TIMEOUT_S = 300
SERVE_TIMEOUT_S = 30


def _install(target: Path) -> Path:
    """A fresh venv with the project installed from a wheel; its dependencies
    are this test run's own (a .pth line), so nothing more is downloaded than
    what builds the wheel. Built from a copy of the tracked files: a build/
    left in the checkout would carry stale modules into the wheel."""
    source = target.parent / "source"
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=CHECKOUT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    for name in filter(None, tracked):
        if (CHECKOUT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(CHECKOUT / name, source / name)
    venv.create(target, with_pip=True)
    python = target / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(source)],
        check=True,
        timeout=INSTALL_TIMEOUT_S,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return Path(purelib)


async def test_installed_distribution_serves_the_page(tmp_path: Path) -> None:
    purelib = await asyncio.to_thread(_install, tmp_path / "venv")
    record = next(purelib.glob("cloudrec-*.dist-info")) / "RECORD"
    installed = {
        line.split("/", 1)[0]
        for line in record.read_text().splitlines()
        if line.split(",", 1)[0].endswith(".py") and "/" in line.split(",", 1)[0]
    }
    assert installed == IMPORT_NAMES
    assert (purelib / "cloudrec" / "web" / "index.html").is_file()

    env = {**os.environ, "CLOUDREC_API_KEY": API_KEY, "CLOUDREC_API_SECRET": API_SECRET}
    env.pop("PYTHONPATH", None)
    program = [str(tmp_path / "venv" / "bin" / "cloudrec")]
    # cwd: not the checkout, so nothing of it is on the path.
    server = await serve_process(program, tmp_path / "data", env, cwd=tmp_path)
    try:
        assert server.stdout is not None
        banner = await asyncio.wait_for(server.stdout.readline(), SERVE_TIMEOUT_S)
        base = banner.decode().split()[-1]
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/") as resp:
                assert resp.status == 200 and "<html" in (await resp.text()).lower()
            async with http.get(base + "/web/cloudrec.js") as resp:
                assert resp.status == 200 and "CloudrecClient" in await resp.text()
    finally:
        server.terminate()
        await server.wait()
