"""Headless Chromium for the briefing tests: found, or installed with apt-get (CI runs as root), else a skip reason;
and a small PNG decoder (no Pillow in the environment) to count non-white pixels."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

PACKAGES = ["chromium", "fonts-noto-cjk", "poppler-utils"]


def ensure_browser() -> tuple[str | None, str]:
    """(chromium path, '') when usable, else (None, why not)."""
    missing = shutil.which("chromium") is None or shutil.which("pdftotext") is None or not _has_cjk_font()
    if missing:
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            return None, f"chromium, fonts-noto-cjk or poppler-utils missing and not root with apt-get: apt-get install {' '.join(PACKAGES)}"
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        update = subprocess.run(["apt-get", "update"], capture_output=True, text=True, env=env, timeout=600)
        install = subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300", *PACKAGES],
            capture_output=True, text=True, env=env, timeout=1200,
        )
        if install.returncode != 0:
            last = (install.stderr.strip() or update.stderr.strip() or "no output").splitlines()[-1]
            return None, f"apt-get install {' '.join(PACKAGES)} failed: {last}"
    found = shutil.which("chromium")
    return (found, "") if found else (None, "chromium still not on PATH after apt-get")


def _has_cjk_font() -> bool:
    if shutil.which("fc-list") is None:
        return False
    return bool(subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout.strip())


def chromium_run(chromium: str, url: str, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run headless Chromium once on url with a fresh profile, console messages on stderr."""
    with tempfile.TemporaryDirectory(prefix="duban-test-chromium-") as profile:
        return subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
             "--no-first-run", "--no-default-browser-check", f"--user-data-dir={profile}",
             "--enable-logging=stderr", "--v=0", *args, url],
            capture_output=True, text=True, timeout=timeout,
        )


def screenshot(chromium: str, page: Path, png: Path, width: int, height: int) -> subprocess.CompletedProcess:
    proc = chromium_run(chromium, page.resolve().as_uri(), f"--window-size={width},{height}", f"--screenshot={png}")
    assert png.exists(), proc.stderr[-2000:]
    return proc


def decode_png(data: bytes) -> tuple[int, int, int, bytes]:
    """(width, height, channels, raw pixel bytes) of an 8-bit, non-interlaced RGB/RGBA/grey PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0, (depth, interlace)
            channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    out = bytearray(height * stride)
    prev = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif kind == 3:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - channels] if i >= channels else 0
                b, c = prev[i], prev[i - channels] if i >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        out[y * stride:(y + 1) * stride] = line
        prev = line
    return width, height, channels, bytes(out)


def non_white_pixels(png: Path) -> int:
    width, height, channels, pixels = decode_png(png.read_bytes())
    colour = min(channels, 3)
    return sum(
        1 for i in range(0, len(pixels), channels) if any(pixels[i + k] < 235 for k in range(colour))
    )
