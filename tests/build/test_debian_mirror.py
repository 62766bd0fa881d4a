"""scripts/docker/debian-mirror.sh: base-image.sh builds from the mirror this machine's apt
uses (or $VXDEPLOY_DEBIAN_MIRROR), not a fixed host."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "docker" / "debian-mirror.sh"

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example.internal/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example.internal/debian-security
Suites: bookworm-security
Components: main
"""


def mirror(apt_dir: Path, *args: str, env: dict[str, str] | None = None) -> str:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("VXDEPLOY_")}
    environ.update({"VXDEPLOY_APT_DIR": str(apt_dir), **(env or {})})
    proc = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          env=environ, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.fixture
def apt(tmp_path: Path) -> Path:
    (tmp_path / "sources.list.d").mkdir()
    return tmp_path


def test_deb822_source_for_the_suite_wins(apt: Path) -> None:
    (apt / "sources.list.d" / "debian.sources").write_text(DEB822)
    assert mirror(apt, "bookworm") == "http://mirror.example.internal/debian"


def test_one_line_format_with_options_and_security_skipped(apt: Path) -> None:
    (apt / "sources.list").write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb http://security.example/debian-security bookworm-security main\n"
        "deb-src http://src.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://local.example:3142/debian bookworm main\n")
    assert mirror(apt, "bookworm") == "http://local.example:3142/debian"


def test_other_suites_fall_back_to_a_debian_archive_then_the_cdn(apt: Path) -> None:
    (apt / "sources.list.d" / "other.list").write_text(
        "deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n"
        "deb http://near.example/debian trixie main\n")
    assert mirror(apt, "bookworm") == "http://near.example/debian"
    (apt / "sources.list.d" / "other.list").write_text(
        "deb http://archive.ubuntu.com/ubuntu noble main\n")
    assert mirror(apt, "bookworm") == "http://deb.debian.org/debian"


def test_disabled_stanzas_and_disabled_files_are_ignored(apt: Path) -> None:
    (apt / "sources.list.d" / "off.sources").write_text(
        "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nEnabled: no\n")
    (apt / "sources.list.d" / "x.list.disabled").write_text(
        "deb http://disabled.example/debian bookworm main\n")
    assert mirror(apt, "bookworm") == "http://deb.debian.org/debian"


def test_environment_variable_overrides_apt(apt: Path) -> None:
    (apt / "sources.list.d" / "debian.sources").write_text(DEB822)
    assert mirror(apt, env={"VXDEPLOY_DEBIAN_MIRROR": "http://chosen.example/debian/"}) == \
        "http://chosen.example/debian"


def test_base_image_script_takes_its_mirror_from_the_selector() -> None:
    text = (SCRIPT.parent / "base-image.sh").read_text()
    assert "deb.debian.org" not in text
    assert 'debian-mirror.sh" "$SUITE"' in text
