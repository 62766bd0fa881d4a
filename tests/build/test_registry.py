"""Where images go: Artifact Registry in the profile's region, or an override host."""

from __future__ import annotations

import pytest

from vxdeploy.build.registry import auth_config, check_region, image_name, image_target
from vxdeploy.errors import InvalidInputError
from vxdeploy.profile.model import Profile


def profile(**model) -> Profile:
    return Profile(name="p", project="proj", region="europe-west4", artifact_registry="repo",
                   model={"display_name": "Sentiment Model v2", **model})


def test_default_target_is_artifact_registry_in_the_profile_region(monkeypatch):
    monkeypatch.delenv("VXDEPLOY_REGISTRY", raising=False)
    target = image_target(profile())
    assert target.host == "europe-west4-docker.pkg.dev"
    assert target.repository == "europe-west4-docker.pkg.dev/proj/repo/sentiment-model-v2-flask"
    assert target.artifact_registry


def test_override_from_environment_and_argument(monkeypatch):
    monkeypatch.setenv("VXDEPLOY_REGISTRY", "http://127.0.0.1:5000/")
    target = image_target(profile(container="torchserve"))
    assert target.repository == "127.0.0.1:5000/proj/repo/sentiment-model-v2-torchserve"
    assert not target.artifact_registry
    assert image_target(profile(), "mirror.local:443").host == "mirror.local:443"


def test_registry_in_another_region_is_refused():
    with pytest.raises(InvalidInputError, match=r"us-central1.*europe-west4"):
        image_target(profile(), "us-central1-docker.pkg.dev")
    check_region("europe-west4-docker.pkg.dev", "europe-west4")
    check_region("127.0.0.1:5000", "europe-west4")


def test_bad_registry_host_names_the_allowed_form():
    with pytest.raises(InvalidInputError, match="host\\[:port\\]"):
        image_target(profile(), "not a host/")


def test_image_name_is_registry_safe():
    assert image_name(profile(display_name="  ÄÖ__x  ")) == "x-flask"
    assert image_name(profile(display_name="***")) == "model-flask"


def test_no_credentials_needed_for_a_plain_registry():
    assert auth_config(image_target(profile(), "127.0.0.1:5000")) is None
