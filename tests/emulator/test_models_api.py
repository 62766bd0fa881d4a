"""ModelService through the real GAPIC REST clients: registry, versions, aliases, rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.api_core import exceptions

from tests.emulator.conftest import PARENT, echo_model, error_status, upload


def test_upload_copies_local_artifacts_and_sets_output_fields(v1, emulator, tmp_path: Path):
    source = tmp_path / "model"
    source.mkdir()
    (source / "weights.bin").write_bytes(b"\x00\x01")
    model = echo_model(v1.types)
    model.artifact_uri = f"file://{source}"
    result = upload(v1, model, model_id="sentiment")
    assert result.model == f"{PARENT}/models/sentiment"
    assert result.model_version_id == "1"

    # The server reads a snapshot: editing the source later changes nothing.
    (source / "weights.bin").write_bytes(b"changed")
    copy = Path(emulator.emu.store.artifacts[f"{result.model}@1"])
    assert copy.is_relative_to(emulator.state_dir)
    assert (copy / "weights.bin").read_bytes() == b"\x00\x01"

    got = v1.models.get_model(name=result.model)
    assert got.version_id == "1"
    assert list(got.version_aliases) == ["default"]
    assert got.etag and got.create_time and got.version_create_time
    assert list(got.supported_deployment_resources_types) == [
        v1.types.Model.DeploymentResourcesType.DEDICATED_RESOURCES
    ]
    assert got.artifact_uri == f"file://{source}"


def test_versions_aliases_and_lookup_by_version_or_alias(v1):
    first = upload(v1, echo_model(v1.types), model_id="m")
    second = upload(v1, echo_model(v1.types, display_name="echo v2"), parent_model=first.model)
    assert second.model == first.model and second.model_version_id == "2"
    # A bare name answers the default version; @2 and aliases pick others.
    assert v1.models.get_model(name=first.model).version_id == "1"
    assert v1.models.get_model(name=f"{first.model}@2").display_name == "echo v2"

    merged = v1.models.merge_version_aliases(
        name=f"{first.model}@2", version_aliases=["default", "canary"]
    )
    assert set(merged.version_aliases) == {"default", "canary"}
    assert v1.models.get_model(name=first.model).version_id == "2"
    assert v1.models.get_model(name=f"{first.model}@canary").version_id == "2"
    assert list(v1.models.get_model(name=f"{first.model}@1").version_aliases) == []

    removed = v1.models.merge_version_aliases(name=f"{first.model}@2", version_aliases=["-canary"])
    assert list(removed.version_aliases) == ["default"]
    with pytest.raises(exceptions.BadRequest) as caught:
        v1.models.merge_version_aliases(name=f"{first.model}@2", version_aliases=["-default"])
    assert "default alias cannot be removed" in str(caught.value)
    with pytest.raises(exceptions.BadRequest):
        v1.models.merge_version_aliases(name=f"{first.model}@2", version_aliases=["9lives"])

    versions = list(v1.models.list_model_versions(name=first.model))
    assert [v.version_id for v in versions] == ["1", "2"]


def test_list_models_filters_and_pages(v1):
    for index in range(5):
        upload(
            v1,
            echo_model(
                v1.types, display_name=f"m{index}", labels={"team": "a" if index % 2 == 0 else "b"}
            ),
        )
    everything = list(v1.models.list_models(parent=PARENT))
    assert len(everything) == 5

    pager = v1.models.list_models(request={"parent": PARENT, "page_size": 2})
    pages = list(pager.pages)
    assert [len(p.models) for p in pages] == [2, 2, 1]
    assert pages[-1].next_page_token == ""

    team_a = v1.models.list_models(request={"parent": PARENT, "filter": 'labels.team="a"'})
    assert sorted(m.display_name for m in team_a) == ["m0", "m2", "m4"]
    ordered = v1.models.list_models(request={"parent": PARENT, "order_by": "display_name desc"})
    assert [m.display_name for m in ordered] == ["m4", "m3", "m2", "m1", "m0"]
    with pytest.raises(exceptions.BadRequest, match="Unsupported order_by"):
        list(v1.models.list_models(request={"parent": PARENT, "order_by": "labels"}))
    by_name = v1.models.list_models(request={"parent": PARENT, "filter": 'display_name="m3"'})
    assert [m.display_name for m in by_name] == ["m3"]
    with pytest.raises(exceptions.BadRequest) as caught:
        list(v1.models.list_models(request={"parent": PARENT, "filter": "create_time>1"}))
    assert "supported forms" in str(caught.value)


def test_upload_rules(v1, tmp_path: Path):
    upload(v1, echo_model(v1.types), model_id="taken")
    with pytest.raises(exceptions.Conflict) as caught:
        v1.models.upload_model(
            request={"parent": PARENT, "model": echo_model(v1.types), "model_id": "taken"}
        )
    assert error_status(caught.value) == "ALREADY_EXISTS"

    reserved = echo_model(v1.types, extra_env={"AIP_HTTP_PORT": "1"})
    with pytest.raises(exceptions.BadRequest, match="reserved"):
        upload(v1, reserved)

    missing = echo_model(v1.types)
    missing.artifact_uri = str(tmp_path / "nowhere")
    with pytest.raises(exceptions.BadRequest, match="does not exist"):
        upload(v1, missing)

    with pytest.raises(exceptions.NotFound):
        upload(v1, echo_model(v1.types), parent_model=f"{PARENT}/models/ghost")


def test_delete_version_and_model_rules(v1):
    first = upload(v1, echo_model(v1.types), model_id="gone")
    upload(v1, echo_model(v1.types), parent_model=first.model)
    with pytest.raises(exceptions.BadRequest) as caught:
        v1.models.delete_model_version(name=f"{first.model}@1")
    assert error_status(caught.value) == "FAILED_PRECONDITION"
    v1.models.delete_model_version(name=f"{first.model}@2").result(timeout=30)
    assert [v.version_id for v in v1.models.list_model_versions(name=first.model)] == ["1"]
    v1.models.delete_model(name=first.model).result(timeout=30)
    with pytest.raises(exceptions.NotFound) as caught:
        v1.models.get_model(name=first.model)
    assert error_status(caught.value) == "NOT_FOUND"


def test_v1beta1_reads_what_v1_wrote(v1, v1beta1):
    result = upload(v1, echo_model(v1.types), model_id="shared")
    model = v1beta1.models.get_model(name=result.model)
    assert isinstance(model, v1beta1.types.Model)
    assert model.display_name == "echo"


def test_model_id_rules_follow_the_rest_reference(v1):
    """model_id: up to 63 of [a-z0-9_-]; the first cannot be a number or a hyphen."""
    assert upload(v1, echo_model(v1.types), model_id="_private").model.endswith("/_private")
    for bad in ("9lives", "-dash", "Upper", "a" * 64):
        with pytest.raises(exceptions.BadRequest) as caught:
            v1.models.upload_model(
                request={"parent": PARENT, "model": echo_model(v1.types), "model_id": bad})
        assert error_status(caught.value) == "INVALID_ARGUMENT"
        assert caught.value.response.json()["error"]["message"].startswith(
            "List of found errors:\t1.Field: model_id;")
