"""ModelService: the Model Registry (upload, versions, aliases, delete).

Every Model version is stored whole (v1beta1 message); `GetModel` on a bare name answers the
version holding the `default` alias, as Vertex does. UploadModel copies a local
`artifact_uri` into the state dir, like Vertex copies artifacts at upload, so a deployed
server reads a snapshot that later edits of the source folder cannot change.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from google.cloud.aiplatform_v1beta1 import types as t

from vxdeploy.emulator import rules
from vxdeploy.emulator.errors import (
    ApiError,
    bad_field,
    failed_precondition,
    invalid,
    not_found,
)
from vxdeploy.emulator.names import ResourceName, parse, parse_parent
from vxdeploy.emulator.store import ModelRecord, new_etag
from vxdeploy.names import DEFAULT_ALIAS

if TYPE_CHECKING:
    from vxdeploy.emulator.context import HasStore, Registry



def local_artifact_path(uri: str) -> Path | None:
    """The local folder an artifact_uri names, or None for remote (gs://) URIs."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "":
        return Path(uri)
    return None


def resolve(ctx: HasStore, name: str, field: str = "name") -> tuple[ResourceName, ModelRecord,
                                                                       t.Model]:
    """A model name (with optional @version or @alias) -> its record and version."""
    rname = parse(name, "models", field)
    record = ctx.store.models.get(rname.base)
    if record is None:
        raise not_found(rname.base, "Model")
    ref = rname.version or DEFAULT_ALIAS
    if ref in record.versions:
        return rname, record, record.versions[ref]
    for version in record.versions.values():
        if ref in version.version_aliases:
            return rname, record, version
    raise not_found(name, "Model version")


def view(ctx: HasStore, model: t.Model) -> t.Model:
    """The Model as clients see it: output-only `deployed_models` filled from endpoints."""
    out = t.Model(model)
    refs = []
    for endpoint in ctx.store.endpoints.values():
        for dm in endpoint.deployed_models:
            if dm.model == model.name and dm.model_version_id == model.version_id:
                refs.append(t.DeployedModelRef(endpoint=endpoint.name, deployed_model_id=dm.id))
    out.deployed_models = refs
    return out


def _move_aliases(record: ModelRecord, target: t.Model, aliases: list[str]) -> None:
    for alias in aliases:
        if alias.startswith("-"):
            name = alias[1:]
            if name == DEFAULT_ALIAS:
                raise invalid("The default alias cannot be removed; move it to another version "
                              "instead.", "version_aliases")
            if name in target.version_aliases:
                target.version_aliases = [a for a in target.version_aliases if a != name]
            continue
        rules.check_alias(alias)
        for other in record.versions.values():
            if other is not target and alias in other.version_aliases:
                other.version_aliases = [a for a in other.version_aliases if a != alias]
        if alias not in target.version_aliases:
            target.version_aliases = [*target.version_aliases, alias]


def _check_model(model: t.Model) -> None:
    rules.require(bool(model.display_name), "Model.display_name is required.",
                  "model.display_name")
    rules.require(bool(model.container_spec.image_uri),
                  "Model.container_spec.image_uri is required for custom-container models.",
                  "model.container_spec.image_uri")
    rules.check_labels(dict(model.labels), "model.labels")
    # The vxdeploy-container / vxdeploy-runtime labels are read at deploy time, as Vertex
    # accepts any label value at upload.
    for item in model.container_spec.env:
        if item.name.startswith("AIP_"):
            raise invalid(f"Environment variable {item.name} is reserved: Vertex sets AIP_* "
                          "variables itself.", "model.container_spec.env")
    for route in ("health_route", "predict_route"):
        value = getattr(model.container_spec, route)
        if value and not value.startswith("/"):
            raise invalid(f"container_spec.{route} {value!r} must start with '/'.",
                          f"model.container_spec.{route}")
    if model.artifact_uri:
        local = local_artifact_path(model.artifact_uri)
        if local is not None and not local.exists():
            raise invalid(f"artifact_uri {model.artifact_uri!r}: {local} does not exist.",
                          "model.artifact_uri")
        if local is None and urlparse(model.artifact_uri).scheme != "gs":
            raise invalid(f"artifact_uri {model.artifact_uri!r} is not supported; allowed: "
                          "gs://bucket/path, file:///path or a local path.", "model.artifact_uri")


def upload_model(ctx: Registry, request: t.UploadModelRequest, version: str) -> Any:
    project, location = parse_parent(request.parent)
    model = t.Model(request.model)
    _check_model(model)
    with ctx.store.lock:
        if request.parent_model:
            if request.model_id:
                raise invalid("model_id and parent_model cannot both be set.", "model_id")
            rname = parse(request.parent_model, "models", "parent_model")
            if rname.parent != request.parent:
                raise invalid("parent_model must be in the request's parent location.",
                              "parent_model")
            if rname.base not in ctx.store.models:
                raise not_found(rname.base, "Model")
            model_name = rname.base
        else:
            if request.model_id and not rules.RESOURCE_ID.match(request.model_id):
                raise bad_field("model_id", f"model_id {request.model_id!r} is invalid: up to 63 "
                                "characters of [a-z0-9_-]; the first cannot be a number or "
                                "hyphen.")
            model_id = request.model_id or ctx.store.new_id()
            model_name = f"{request.parent}/models/{model_id}"
            if model_name in ctx.store.models or model_name in ctx.pending_models:
                raise ApiError("ALREADY_EXISTS", f'Model "{model_name}" already exists.')
            ctx.pending_models.add(model_name)

    def work() -> t.UploadModelResponse:
        try:
            return _register(ctx, model, model_name, project, location)
        finally:
            ctx.pending_models.discard(model_name)

    metadata = t.UploadModelOperationMetadata()
    return ctx.ops.start(parent=model_name, version=version, metadata=metadata, work=work)


def _register(ctx: Registry, model: t.Model, model_name: str, project: str,
              location: str) -> t.UploadModelResponse:
    with ctx.store.lock:
        record = ctx.store.models.get(model_name) or ModelRecord()
        version_id = str(record.next_version)
        record.next_version += 1
    copy = ""
    if model.artifact_uri:
        local = local_artifact_path(model.artifact_uri)
        if local is not None:
            target = ctx.store.state_dir / "artifacts" / model_name.rsplit("/", 1)[-1] / version_id
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            if local.is_dir():
                shutil.copytree(local, target)
            else:
                target.mkdir()
                shutil.copy2(local, target / local.name)
            copy = str(target)
        else:
            copy = model.artifact_uri
    now = datetime.now(tz=UTC)
    requested_aliases = list(model.version_aliases)
    model.name = model_name
    model.version_id = version_id
    model.version_aliases = []
    model.version_create_time = now
    model.version_update_time = now
    model.update_time = now
    model.etag = new_etag()
    model.supported_deployment_resources_types = [
        t.Model.DeploymentResourcesType.DEDICATED_RESOURCES]  # type: ignore[list-item]
    with ctx.store.transaction():
        record = ctx.store.models.setdefault(model_name, record)
        first = not record.versions
        model.create_time = now if first else next(iter(record.versions.values())).create_time
        record.versions[version_id] = model
        _move_aliases(record, model, ([DEFAULT_ALIAS] if first else []) + requested_aliases)
        ctx.store.artifacts[f"{model_name}@{version_id}"] = copy
    return t.UploadModelResponse(model=model_name, model_version_id=version_id)


def get_model(ctx: Registry, request: t.GetModelRequest, version: str) -> t.Model:
    with ctx.store.lock:
        _rname, _record, model = resolve(ctx, request.name)
        return view(ctx, model)


def list_models(ctx: Registry, request: t.ListModelsRequest, version: str,
                order_by: str = "") -> t.ListModelsResponse:
    parse_parent(request.parent)
    match = rules.parse_filter(request.filter)
    with ctx.store.lock:
        models = []
        for name, record in ctx.store.models.items():
            if not name.startswith(request.parent + "/"):
                continue
            default = next((m for m in record.versions.values()
                            if DEFAULT_ALIAS in m.version_aliases), None)
            if default is not None and match(default):
                models.append(view(ctx, default))
    models = rules.order(models, order_by, lambda m: (m.create_time, m.name))
    page, token = rules.paginate(models, request.page_size, request.page_token)
    return t.ListModelsResponse(models=page, next_page_token=token)


def list_model_versions(ctx: Registry, request: t.ListModelVersionsRequest, version: str,
                        order_by: str = "") -> t.ListModelVersionsResponse:
    match = rules.parse_filter(request.filter)
    with ctx.store.lock:
        rname = parse(request.name, "models")
        record = ctx.store.models.get(rname.base)
        if record is None:
            raise not_found(rname.base, "Model")
        models = [view(ctx, m) for m in record.versions.values() if match(m)]
    models = rules.order(models, order_by, lambda m: int(m.version_id))
    page, token = rules.paginate(models, request.page_size, request.page_token)
    return t.ListModelVersionsResponse(models=page, next_page_token=token)


# UpdateModel may change these. The first three belong to the Model and are shared by its
# versions; version_description belongs to the version named (the default one without @).
MODEL_UPDATABLE = ("display_name", "description", "labels")
VERSION_UPDATABLE = ("version_description",)


def update_model(ctx: Registry, request: t.UpdateModelRequest, version: str) -> t.Model:
    paths = list(request.update_mask.paths)
    allowed = (*MODEL_UPDATABLE, *VERSION_UPDATABLE)
    rules.require(bool(paths), f"update_mask is required; updatable fields: "
                  f"{', '.join(allowed)}.", "update_mask")
    for path in paths:
        if path not in allowed:
            raise invalid(f"update_mask path {path!r} cannot be updated; updatable fields: "
                          f"{', '.join(allowed)}.", "update_mask")
    new = request.model
    if "display_name" in paths:
        rules.require(bool(new.display_name), "Model.display_name must not be empty.",
                      "model.display_name")
    if "labels" in paths:
        rules.check_labels(dict(new.labels), "model.labels")
    with ctx.store.transaction():
        _rname, record, model = resolve(ctx, new.name, "model.name")
        if new.etag and new.etag != model.etag:
            raise ApiError("ABORTED", f"The etag {new.etag!r} does not match the current etag "
                           f"of {model.name}@{model.version_id}: it was changed since you read "
                           "it. Read it again and retry.")
        now = datetime.now(tz=UTC)
        for path in paths:
            targets = [model] if path in VERSION_UPDATABLE else list(record.versions.values())
            for target in targets:
                setattr(target, path, getattr(new, path))
                target.update_time = now
                target.etag = new_etag()
        model.version_update_time = now
        return view(ctx, model)


def merge_version_aliases(ctx: Registry, request: t.MergeVersionAliasesRequest,
                          version: str) -> t.Model:
    rules.require(bool(request.version_aliases), "version_aliases must not be empty.",
                  "version_aliases")
    with ctx.store.transaction():
        rname, record, model = resolve(ctx, request.name)
        if rname.version is None:
            raise invalid("name must name a version: models/ID@VERSION.", "name")
        _move_aliases(record, model, list(request.version_aliases))
        now = datetime.now(tz=UTC)
        model.version_update_time = now
        model.etag = new_etag()
        return view(ctx, model)


def _deployed_refs(ctx: HasStore, model_name: str, version_id: str | None) -> list[str]:
    found = []
    for endpoint in ctx.store.endpoints.values():
        for dm in endpoint.deployed_models:
            if dm.model == model_name and version_id in (None, dm.model_version_id):
                found.append(f"{endpoint.name} (deployed model {dm.id})")
    return found


def delete_model(ctx: Registry, request: t.DeleteModelRequest, version: str) -> Any:
    with ctx.store.lock:
        rname = parse(request.name, "models")
        if rname.version is not None:
            raise invalid("DeleteModel takes a model without @version; use DeleteModelVersion.",
                          "name")
        if rname.base not in ctx.store.models:
            raise not_found(rname.base, "Model")
        deployed = _deployed_refs(ctx, rname.base, None)
        if deployed:
            raise failed_precondition(
                f"Model {rname.base} cannot be deleted: it is deployed to "
                f"{', '.join(deployed)}. Undeploy it first.")

    def work() -> None:
        with ctx.store.transaction():
            ctx.store.models.pop(rname.base, None)
            for key in [k for k in ctx.store.artifacts if k.startswith(rname.base + "@")]:
                del ctx.store.artifacts[key]
        shutil.rmtree(ctx.store.state_dir / "artifacts" / rname.id, ignore_errors=True)

    return ctx.ops.start(parent=rname.base, version=version,
                         metadata=t.DeleteOperationMetadata(), work=work)


def delete_model_version(ctx: Registry, request: t.DeleteModelVersionRequest,
                         version: str) -> Any:
    with ctx.store.lock:
        rname, record, model = resolve(ctx, request.name)
        if rname.version is None:
            raise invalid("name must name a version: models/ID@VERSION.", "name")
        if DEFAULT_ALIAS in model.version_aliases:
            raise failed_precondition(
                f"Version {model.version_id} of {rname.base} holds the default alias and cannot "
                "be deleted; move the alias with MergeVersionAliases or delete the Model.")
        deployed = _deployed_refs(ctx, rname.base, model.version_id)
        if deployed:
            raise failed_precondition(
                f"Version {model.version_id} of {rname.base} is deployed to "
                f"{', '.join(deployed)}. Undeploy it first.")
        version_id = model.version_id

    def work() -> None:
        with ctx.store.transaction():
            record.versions.pop(version_id, None)
            ctx.store.artifacts.pop(f"{rname.base}@{version_id}", None)
        shutil.rmtree(ctx.store.state_dir / "artifacts" / rname.id / version_id,
                      ignore_errors=True)

    return ctx.ops.start(parent=rname.base, version=version,
                         metadata=t.DeleteOperationMetadata(), work=work)

