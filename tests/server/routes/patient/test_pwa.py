"""The installable-app parts: manifest, service worker, icons.

The PNG icons under web/static/patient/icons/ are drawn by `draw_icon` below (a tiny pure-Python PNG encoder:
zlib + struct, no imaging library). To redraw them: `.venv/bin/python tests/server/test_patient_pwa.py`.
"""

from __future__ import annotations

import json
import math
import struct
import sys
import zlib
from pathlib import Path

ICON_DIR = Path(__file__).resolve().parents[4] / "web" / "static" / "patient" / "icons"
ICONS = {"icon-180.png": 180, "icon-192.png": 192, "icon-512.png": 512, "icon-maskable-512.png": 512}
BRAND = (0x0B, 0x4F, 0x5C)
WHITE = (0xFF, 0xFF, 0xFF)


def _segment_distance(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


def _coverage(x: float, y: float) -> float:
    """How white the unit-square point (x, y) is: a ring and a check mark, inside the maskable safe zone (r < 0.4)."""
    r = math.hypot(x - 0.5, y - 0.5)
    if abs(r - 0.31) < 0.035:
        return 1.0
    check = min(_segment_distance(x, y, 0.36, 0.52, 0.46, 0.62), _segment_distance(x, y, 0.46, 0.62, 0.66, 0.40))
    return 1.0 if check < 0.035 else 0.0


def draw_icon(size: int) -> bytes:
    """The app icon as PNG bytes: white ring and check on the brand colour, full bleed (fine as 'maskable')."""
    samples = ((0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75))  # 4x supersampling for smooth edges
    rows = []
    for j in range(size):
        row = bytearray([0])  # filter type 0 for each scanline
        for i in range(size):
            white = sum(_coverage((i + dx) / size, (j + dy) / size) for dx, dy in samples) / len(samples)
            row += bytes(round(b + (w - b) * white) for b, w in zip(BRAND, WHITE))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_icons_are_pngs_of_their_size():
    for name, size in ICONS.items():
        assert _png_size((ICON_DIR / name).read_bytes()) == (size, size), name


def test_manifest_makes_the_app_installable(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = json.loads(response.text)
    assert manifest["display"] == "standalone" and manifest["start_url"] == "/today" and manifest["scope"] == "/"
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    assert any(icon["purpose"] == "maskable" for icon in manifest["icons"])
    for icon in manifest["icons"]:
        assert client.get(icon["src"]).status_code == 200
    # A neutral name on the home screen: no drug name or diagnosis.
    assert "selinexor" not in response.text.lower() and "xpovio" not in response.text.lower()


def test_service_worker_is_served_at_the_root_with_its_version_and_shell(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    assert response.headers["cache-control"] == "no-cache"
    assert "__VERSION__" not in response.text and "__SHELL__" not in response.text
    assert '"/today"' in response.text and '"/offline"' in response.text
    for asset in ("/static/patient/app.js", "/static/patient/queue.js"):
        assert client.get(asset).status_code == 200


def test_the_red_flag_table_is_served_with_the_shell_and_is_the_rules_own(client):
    """Flow 7: the phone checks offline entries against the very thresholds the rules use."""
    from server.clinical import red_flags, rules

    response = client.get("/static-data/red-flags.json")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    table = response.json()
    assert table == red_flags.as_json()
    assert '"/static-data/red-flags.json"' in client.get("/sw.js").text
    assert client.get("/static/patient/redflags.js").status_code == 200
    by_rule = {(row["rule"], row["measure"]): row["value"] for row in table["flags"]}
    assert {row["rule"] for row in table["flags"]} == {"R-NV-3", "R-DIA-3", "R-WT-20", "R-FEVER", "R-BLEED", "R-NEURO"}
    assert by_rule[("R-FEVER", "temperature_c")] == rules.FEVER_C == 38.0
    assert by_rule[("R-NV-3", "vomiting_episodes")] == rules.VOMITING_INTERRUPT == 6
    assert by_rule[("R-DIA-3", "stools_above_usual")] == rules.DIARRHEA_GRADE_3 == 7
    assert by_rule[("R-WT-20", "weight_loss_pct")] == rules.WEIGHT_LOSS_URGENT_PCT == 20.0


if __name__ == "__main__":
    ICON_DIR.mkdir(parents=True, exist_ok=True)
    for icon_name, icon_size in ICONS.items():
        (ICON_DIR / icon_name).write_bytes(draw_icon(icon_size))
        print(f"wrote {ICON_DIR / icon_name}")
    sys.exit(0)
