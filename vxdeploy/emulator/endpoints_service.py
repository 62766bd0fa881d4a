"""EndpointService: endpoints, deploy/undeploy/mutate and the traffic split.

DeployModel really starts the model's server (through `serving`) before the operation is
done, so a finished deploy means the health route answered 200, as on Vertex. The split is
checked by Vertex's rules and replaced, never merged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from google.cloud.aiplatform_v1beta1 import types as t

from vxdeploy.emulator import models_service, rules
from vxdeploy.emulator.deployments import is_scale_to_zero
from vxdeploy.emulator.errors import (
    ApiError,
    bad_field,
    failed_precondition,
    invalid,
    not_found,
)
from vxdeploy.emulator.names import parse, parse_parent
from vxdeploy.emulator.store import new_etag

if TYPE_CHECKING:
    from vxdeploy.emulator.context import Deployer, HasOperations, HasStore

# UpdateEndpoint may change these; everything else is immutable or output-only.
UPDATABLE = ("display_name", "description", "labels", "traffic_split",
             "predict_request_response_logging_config", "client_connection_config",
             "gen_ai_advanced_features_config")
MUTABLE_DEPLOYED = ("dedicated_resources.min_replica_count",
                    "dedicated_resources.max_replica_count",
                    "dedicated_resources.autoscaling_metric_specs",
                    "dedicated_resources.required_replica_count", "disable_container_logging",
                    "enable_access_logging", "dedicated_resources.scale_to_zero_spec")


def _endpoint_id(endpoint_name: str) -> str:
    return endpoint_name.rsplit("/", 1)[-1]


def get_endpoint_record(ctx: HasStore, name: str, field: str = "name") -> t.Endpoint:
    rname = parse(name, "endpoints", field)
    endpoint = ctx.store.endpoints.get(rname.base)
    if endpoint is None:
        raise not_found(rname.base, "Endpoint")
    return endpoint


def service_attachment(endpoint_name: str, deployed_model_id: str) -> str:
    """The Compute Engine service attachment Vertex creates for a model deployed to a
    Private Service Connect endpoint: it lives in a Google-managed tenant project
    (`...-tp`) in the endpoint's region. Stable per deployed model, like Vertex's."""
    import hashlib

    rname = parse(endpoint_name, "endpoints")
    digest = hashlib.sha256(f"{endpoint_name}/{deployed_model_id}".encode()).hexdigest()
    return (f"projects/{digest[:16]}-tp/regions/{rname.location}/serviceAttachments/"
            f"gkedpm-{digest[16:46]}")


def _touch(endpoint: t.Endpoint) -> None:
    endpoint.update_time = datetime.now(tz=UTC)
    endpoint.etag = new_etag()


def create_endpoint(ctx: Deployer, request: t.CreateEndpointRequest, version: str) -> Any:
    parse_parent(request.parent)
    endpoint = t.Endpoint(request.endpoint)
    rules.require(bool(endpoint.display_name), "Endpoint.display_name is required.",
                  "endpoint.display_name")
    rules.check_labels(dict(endpoint.labels), "endpoint.labels")
    if endpoint.network and endpoint.private_service_connect_config.enable_private_service_connect:
        raise invalid("network and private_service_connect_config are mutually exclusive.",
                      "endpoint.network")
    with ctx.store.transaction():
        if request.endpoint_id:
            if not rules.ENDPOINT_ID.match(request.endpoint_id):
                raise bad_field("endpoint_id", f"endpoint_id {request.endpoint_id!r} is invalid: "
                                "a number of up to 9 digits not starting with 0, or 1-63 "
                                "characters of [a-z0-9-] starting with a letter and ending "
                                "with a letter or digit.")
            endpoint_id = request.endpoint_id
        else:
            endpoint_id = ctx.store.new_id()
        name = f"{request.parent}/endpoints/{endpoint_id}"
        if name in ctx.store.endpoints:
            raise ApiError("ALREADY_EXISTS", f'Endpoint "{name}" already exists.')
        now = datetime.now(tz=UTC)
        endpoint.name = name
        endpoint.deployed_models = []
        endpoint.traffic_split = {}
        endpoint.create_time = now
        endpoint.update_time = now
        endpoint.etag = new_etag()
        ctx.store.endpoints[name] = endpoint
        result = t.Endpoint(endpoint)
    return ctx.ops.start(parent=name, version=version,
                         metadata=t.CreateEndpointOperationMetadata(), work=lambda: result)


def get_endpoint(ctx: Deployer, request: t.GetEndpointRequest, version: str) -> t.Endpoint:
    with ctx.store.lock:
        return t.Endpoint(get_endpoint_record(ctx, request.name))


def list_endpoints(ctx: Deployer, request: t.ListEndpointsRequest, version: str,
                   order_by: str = "") -> t.ListEndpointsResponse:
    parse_parent(request.parent)
    match = rules.parse_filter(request.filter)
    with ctx.store.lock:
        endpoints = [t.Endpoint(ep) for name, ep in ctx.store.endpoints.items()
                     if name.startswith(request.parent + "/") and match(ep)]
    endpoints = rules.order(endpoints, order_by, lambda ep: (ep.create_time, ep.name))
    page, token = rules.paginate(endpoints, request.page_size, request.page_token)
    return t.ListEndpointsResponse(endpoints=page, next_page_token=token)


def update_endpoint(ctx: Deployer, request: t.UpdateEndpointRequest, version: str) -> t.Endpoint:
    paths = list(request.update_mask.paths)
    rules.require(bool(paths), "update_mask is required; updatable fields: "
                  f"{', '.join(UPDATABLE)}.", "update_mask")
    for path in paths:
        if path not in UPDATABLE:
            raise invalid(f"update_mask path {path!r} cannot be updated; updatable fields: "
                          f"{', '.join(UPDATABLE)}.", "update_mask")
    with ctx.store.transaction():
        endpoint = get_endpoint_record(ctx, request.endpoint.name, "endpoint.name")
        if request.endpoint.etag and request.endpoint.etag != endpoint.etag:
            raise ApiError("ABORTED", f"The etag {request.endpoint.etag!r} does not match the "
                           f"current etag of {endpoint.name}: it was changed since you read it. "
                           "Read it again and retry.")
        new = request.endpoint
        if "traffic_split" in paths:
            split = dict(new.traffic_split)
            rules.check_split(split, (dm.id for dm in endpoint.deployed_models),
                              "endpoint.traffic_split")
        if "labels" in paths:
            rules.check_labels(dict(new.labels), "endpoint.labels")
        if "display_name" in paths:
            rules.require(bool(new.display_name), "Endpoint.display_name must not be empty.",
                          "endpoint.display_name")
        for path in paths:
            setattr(endpoint, path, getattr(new, path))
        _touch(endpoint)
        return t.Endpoint(endpoint)


def delete_endpoint(ctx: Deployer, request: t.DeleteEndpointRequest, version: str) -> Any:
    with ctx.store.lock:
        endpoint = get_endpoint_record(ctx, request.name)
        if endpoint.deployed_models:
            raise failed_precondition(
                f"Endpoint {endpoint.name} still has deployed models "
                f"({', '.join(dm.id for dm in endpoint.deployed_models)}); undeploy them first.")
        name = endpoint.name

    def work() -> None:
        with ctx.store.transaction():
            ctx.store.endpoints.pop(name, None)

    return ctx.ops.start(parent=name, version=version, metadata=t.DeleteOperationMetadata(),
                         work=work)


def _deployed(endpoint: t.Endpoint, deployed_model_id: str) -> t.DeployedModel | None:
    return next((dm for dm in endpoint.deployed_models if dm.id == deployed_model_id), None)


def _check_resources(dm: t.DeployedModel, version: str) -> None:
    if "automatic_resources" in dm and "dedicated_resources" not in dm:
        raise invalid("This Model supports only DEDICATED_RESOURCES: set "
                      "deployed_model.dedicated_resources.", "deployed_model.dedicated_resources")
    if "dedicated_resources" not in dm:
        raise invalid("deployed_model.dedicated_resources is required (machine_spec and "
                      "min_replica_count).", "deployed_model.dedicated_resources")
    resources = dm.dedicated_resources
    rules.check_machine(resources.machine_spec, "deployed_model.dedicated_resources.machine_spec")
    rules.check_scale_to_zero(resources, "deployed_model.dedicated_resources", version=version)


def deploy_model(ctx: Deployer, request: t.DeployModelRequest, version: str) -> Any:
    dm = t.DeployedModel(request.deployed_model)
    split = dict(request.traffic_split)
    _check_resources(dm, version)
    with ctx.store.lock:
        endpoint = get_endpoint_record(ctx, request.endpoint, "endpoint")
        endpoint_name = endpoint.name
        _rname, _record, model = models_service.resolve(ctx, dm.model, "deployed_model.model")
        existing = [d.id for d in endpoint.deployed_models]
        in_flight = ctx.runtime.deploying.setdefault(endpoint_name, set())
        if dm.id:
            if not rules.DEPLOYED_MODEL_ID.match(dm.id):
                raise invalid(f"deployed_model.id {dm.id!r} is invalid: 1-10 digits.",
                              "deployed_model.id")
            if dm.id in existing or dm.id in in_flight:
                raise ApiError("ALREADY_EXISTS", f"DeployedModel {dm.id} already exists in "
                               f"{endpoint_name}.")
        else:
            dm.id = ctx.store.new_deployed_model_id()
        rules.check_split(split, existing, "traffic_split", allow_zero_key=True)
        if is_scale_to_zero(dm) and (existing or in_flight):
            raise invalid("A scale-to-zero deployment must be the only model on its endpoint.",
                          "deployed_model.dedicated_resources.scale_to_zero_spec")
        if any(is_scale_to_zero(d) for d in endpoint.deployed_models):
            raise invalid("This endpoint holds a scale-to-zero deployment, which must be the "
                          "only model on its endpoint.", "endpoint")
        in_flight.add(dm.id)
        dm.model = model.name
        dm.model_version_id = model.version_id
        if not dm.display_name:
            dm.display_name = model.display_name
        dm.create_time = datetime.now(tz=UTC)
        if endpoint.private_service_connect_config.enable_private_service_connect:
            dm.private_endpoints = t.PrivateEndpoints(
                service_attachment=service_attachment(endpoint_name, dm.id))
        storage_uri = ctx.store.artifacts.get(f"{model.name}@{model.version_id}", "")
        model_copy = t.Model(model)
        try:  # bad serving labels fail the call itself, before any operation exists
            deployment = ctx.runtime.deployment_for(endpoint_name, dm, model_copy, storage_uri)
        except ValueError as error:
            in_flight.discard(dm.id)
            raise invalid(str(error), "deployed_model.model") from error

    def work() -> t.DeployModelResponse:
        try:
            ctx.runtime.start_deployment(deployment, dm)
            with ctx.store.transaction():
                current = ctx.store.endpoints.get(endpoint_name)
                if current is None:
                    ctx.runtime.servers.stop(f"{_endpoint_id(endpoint_name)}/{dm.id}")
                    raise ApiError("NOT_FOUND", f'Endpoint "{endpoint_name}" was deleted.')
                current.deployed_models = [*current.deployed_models, dm]
                if split:
                    current.traffic_split = {(dm.id if k == "0" else k): v
                                             for k, v in split.items()}
                _touch(current)
            return t.DeployModelResponse(deployed_model=dm)
        finally:
            with ctx.store.lock:
                ctx.runtime.deploying.get(endpoint_name, set()).discard(dm.id)

    return ctx.ops.start(parent=endpoint_name, version=version,
                         metadata=t.DeployModelOperationMetadata(), work=work)


def undeploy_model(ctx: Deployer, request: t.UndeployModelRequest, version: str) -> Any:
    with ctx.store.lock:
        endpoint = get_endpoint_record(ctx, request.endpoint, "endpoint")
        dm = _deployed(endpoint, request.deployed_model_id)
        if dm is None:
            raise not_found(f"{endpoint.name}/deployedModels/{request.deployed_model_id}",
                            "DeployedModel")
        remaining = [d.id for d in endpoint.deployed_models if d.id != dm.id]
        split = dict(request.traffic_split)
        if split:
            if split.get(dm.id, 0) > 0:
                raise invalid(f"traffic_split gives {split[dm.id]}% to DeployedModel {dm.id}, "
                              "which is being undeployed.", "traffic_split")
            split.pop(dm.id, None)
            rules.check_split(split, remaining, "traffic_split")
            new_split = split
        else:
            share = endpoint.traffic_split.get(dm.id, 0)
            if share > 0 and remaining:
                raise failed_precondition(
                    f"DeployedModel {dm.id} has {share}% of the traffic of {endpoint.name}. Move "
                    "its traffic to other models (UpdateEndpoint) or pass a traffic_split that "
                    "takes it away before undeploying.")
            new_split = {k: v for k, v in endpoint.traffic_split.items() if k != dm.id}
        endpoint_name = endpoint.name
        dm_id = dm.id

    def work() -> t.UndeployModelResponse:
        with ctx.store.transaction():
            current = ctx.store.endpoints.get(endpoint_name)
            if current is not None:
                current.deployed_models = [d for d in current.deployed_models if d.id != dm_id]
                current.traffic_split = new_split if current.deployed_models else {}
                _touch(current)
        ctx.runtime.servers.stop(f"{_endpoint_id(endpoint_name)}/{dm_id}")
        return t.UndeployModelResponse()

    return ctx.ops.start(parent=endpoint_name, version=version,
                         metadata=t.UndeployModelOperationMetadata(), work=work)


def mutate_deployed_model(ctx: Deployer, request: t.MutateDeployedModelRequest,
                          version: str) -> Any:
    paths = list(request.update_mask.paths)
    rules.require(bool(paths), "update_mask is required; mutable fields: "
                  f"{', '.join(MUTABLE_DEPLOYED)}.", "update_mask")
    for path in paths:
        if path not in MUTABLE_DEPLOYED:
            raise invalid(f"update_mask path {path!r} cannot be mutated; mutable fields: "
                          f"{', '.join(MUTABLE_DEPLOYED)}.", "update_mask")
    with ctx.store.lock:
        endpoint = get_endpoint_record(ctx, request.endpoint, "endpoint")
        current = _deployed(endpoint, request.deployed_model.id)
        if current is None:
            raise not_found(f"{endpoint.name}/deployedModels/{request.deployed_model.id}",
                            "DeployedModel")
        updated = t.DeployedModel(current)
        for path in paths:
            target, source = updated, request.deployed_model
            *parents, leaf = path.split(".")
            for part in parents:
                target, source = getattr(target, part), getattr(source, part)
            setattr(target, leaf, getattr(source, leaf))
        rules.check_scale_to_zero(updated.dedicated_resources,
                                  "deployed_model.dedicated_resources", version=version)
        endpoint_name = endpoint.name

    def work() -> t.MutateDeployedModelResponse:
        replicas = ctx.runtime.replicas_for(updated)
        key = f"{_endpoint_id(endpoint_name)}/{updated.id}"
        if not is_scale_to_zero(updated):
            ctx.runtime.servers.scale(key, replicas)
        with ctx.store.transaction():
            live = ctx.store.endpoints.get(endpoint_name)
            if live is None:
                raise ApiError("NOT_FOUND", f'Endpoint "{endpoint_name}" was deleted.')
            live.deployed_models = [updated if d.id == updated.id else d
                                    for d in live.deployed_models]
            _touch(live)
        return t.MutateDeployedModelResponse(deployed_model=updated)

    return ctx.ops.start(parent=endpoint_name, version=version,
                         metadata=t.MutateDeployedModelOperationMetadata(), work=work)


def get_operation(ctx: HasOperations, request: Any, version: str) -> dict[str, Any]:
    return ctx.ops.get(request.name)


def list_operations(ctx: HasOperations, request: Any, version: str) -> dict[str, Any]:
    if request.filter:
        raise invalid("ListOperations filters are not supported by the local emulator.",
                      "filter")
    operations = ctx.ops.list(request.name)
    page, token = rules.paginate(operations, request.page_size, request.page_token)
    out: dict[str, Any] = {"operations": page}
    if token:
        out["nextPageToken"] = token
    return out


def wait_operation(ctx: HasOperations, request: Any, version: str) -> dict[str, Any]:
    timeout = request.timeout.ToTimedelta().total_seconds() \
        if request.HasField("timeout") else None
    return ctx.ops.wait_for(request.name, timeout)


def cancel_operation(ctx: HasOperations, request: Any, version: str) -> dict[str, Any]:
    ctx.ops.cancel(request.name)
    return {}  # google.protobuf.Empty

