"""Regenerate docs/profiles.md from the profile models (same as `vxdeploy profiles docs`)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vxdeploy.profile.reference import render_markdown  # noqa: E402

if __name__ == "__main__":
    (REPO / "docs" / "profiles.md").write_text(render_markdown(), encoding="utf-8")
