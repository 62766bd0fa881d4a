"""`model.compile` in the desired state: the container is told to torch.compile, and a
change of mode is a new model version (its fingerprint changes)."""

from __future__ import annotations

from vxdeploy.desired import desired_state
from vxdeploy.profile.model import Profile

IMAGE = "us-docker.pkg.dev/p/r/flask:1"


def _desired(compile_mode: str):  # type: ignore[no-untyped-def]
    return desired_state(Profile.model_validate(
        {"name": "t", "project": "p", "target": "vertex", "endpoint": {"name": "svc"},
         "model": {"artifact_uri": "gs://b/m", "compile": compile_mode}}), IMAGE)


def test_compile_mode_reaches_the_server_and_the_fingerprint() -> None:
    off, compiled, aoti = _desired("off"), _desired("compile"), _desired("aoti")
    assert ("VXSERVE_COMPILE", "compile") in compiled.model.env
    assert not any(k == "VXSERVE_COMPILE" for k, _ in off.model.env)
    assert not any(k == "VXSERVE_COMPILE" for k, _ in aoti.model.env)  # the package says so
    assert len({off.model.fingerprint, compiled.model.fingerprint,
                aoti.model.fingerprint}) == 3
