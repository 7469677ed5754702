"""Render an HTML page to a PNG with headless Chromium (the README's report screenshot, and the render test).

    python -m swiftcast.replay.screenshot out/demo/report.html docs/img/report.png [--size 1280x1800]

Uses the Debian ``chromium`` package (``make setup`` installs it) with the flags this sandbox needs: no GPU, no
sandbox (root), and no background networking (the machine has no internet; Chromium otherwise keeps retrying).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from swiftcast.errors import SwiftcastError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
)


def find_chromium() -> str | None:
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def render_png(page: Path, png: Path, width: int = 1280, height: int = 1800, timeout: float = 120.0) -> Path:
    """Screenshot ``page`` (the top ``width`` x ``height`` CSS pixels) into ``png``."""
    browser = find_chromium()
    if browser is None:
        raise SwiftcastError("chromium not found: install the Debian package 'chromium' (make setup does)")
    page = Path(page).resolve()
    if not page.is_file():
        raise SwiftcastError(f"page not found: {page}")
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    if png.exists():
        png.unlink()
    with tempfile.TemporaryDirectory(prefix="swiftcast-chromium-") as profile:
        cmd = [browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
               f"--screenshot={png}", page.as_uri()]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if not png.is_file():
        raise SwiftcastError(f"chromium wrote no screenshot (exit {res.returncode}): {res.stderr.strip()[-300:]}")
    return png


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m swiftcast.replay.screenshot", description=__doc__.split("\n\n")[0])
    p.add_argument("page", type=Path)
    p.add_argument("png", type=Path)
    p.add_argument("--size", default="1280x1800", help="window WxH in CSS pixels (default 1280x1800)")
    args = p.parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
        print(render_png(args.page, args.png, width, height))
    except (SwiftcastError, ValueError) as exc:
        print(f"screenshot: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
