"""`model.compile = "compile"`: the build warms the torch.compile cache into the image.

The warm-up command itself (`python -m vxserve.warm`) is tested for real in
tests/containers/common/test_compiled.py; here, that the build context carries the
artifacts and the Dockerfile runs it with the servers' thread count, as root, leaving a
cache the non-root server can use.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vxdeploy.build import prepare_context
from vxdeploy.profile import load_profile

DOCKERFILE = "ARG BASE_IMAGE=debian:12\nFROM ${BASE_IMAGE}\nWORKDIR /app\nUSER app\n"


@pytest.fixture
def containers(tmp_path: Path) -> Path:
    root = tmp_path / "containers"
    for kind in ("flask", "tensorrt"):
        (root / kind).mkdir(parents=True)
        (root / kind / "Dockerfile").write_text(DOCKERFILE)
    (root / "common" / "vxserve").mkdir(parents=True)
    (root / "common" / "vxserve" / "__init__.py").write_text("")
    return root


def _profile(tmp_path: Path, extra: str) -> Path:
    model = tmp_path / "proj" / "model"
    model.mkdir(parents=True)
    (model / "weights.pt").write_bytes(b"w")
    (model / "vxserve.json").write_text('{"compile": "compile"}')
    folder = tmp_path / "proj" / "profiles"
    folder.mkdir()
    path = folder / "p.toml"
    path.write_text(f'target = "local"\n[model]\nartifact_uri = "../model"\n{extra}\n')
    return path


def test_compile_profile_warms_the_cache_in_the_image(tmp_path: Path, containers: Path) -> None:
    path = _profile(tmp_path, 'compile = "compile"\n[model.env]\nVXSERVE_TORCH_THREADS = "2"')
    context, _ = prepare_context(load_profile(str(path), tmp_path), containers_root=containers)
    assert {"vxdeploy-warm/weights.pt", "vxdeploy-warm/vxserve.json"} <= set(context.names)
    text = context.file("Dockerfile").read().decode()
    warm = text[text.index("USER root"):]
    assert "apt-get install -y --no-install-recommends g++ python3-dev" in warm
    assert "COPY vxdeploy-warm/ /opt/vxdeploy/warm-artifacts/" in warm
    assert "ENV VXSERVE_COMPILE_CACHE_DIR=/opt/vxdeploy/compile-cache" in warm
    assert ("VXSERVE_COMPILE=compile VXSERVE_TORCH_THREADS=2 python3 -m vxserve.warm "
            "/opt/vxdeploy/warm-artifacts && chmod -R a+rwX /opt/vxdeploy/compile-cache") in warm
    assert warm.rstrip().endswith("USER app")  # the server still runs as its own user
    assert "vxdeploy-user" not in text  # no user code: no empty COPY that would fail


@pytest.mark.parametrize("extra", ['compile = "off"',
                                   'compile = "compile"\ncontainer = "tensorrt"'])
def test_no_warm_step_when_nothing_is_torch_compiled(tmp_path: Path, containers: Path,
                                                     extra: str) -> None:
    path = _profile(tmp_path, extra)
    context, _ = prepare_context(load_profile(str(path), tmp_path), containers_root=containers)
    assert not any(n.startswith("vxdeploy-warm/") for n in context.names)
    assert "vxserve.warm" not in context.file("Dockerfile").read().decode()
