"""Building the exact API messages for a desired state.

Kept apart from the calls so the request bodies (spot, scale-to-zero, PSC, autoscaling,
alert policies) can be checked field by field in tests without a server.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from vxdeploy.desired import DesiredAlert, DesiredEndpoint, DesiredModel, DesiredResources
from vxdeploy.profile.model import EndpointKind
from vxdeploy.verbs import DeployModel


def endpoint_message(aip: Any, want: DesiredEndpoint) -> Any:
    """The Endpoint to create: networking is fixed here, at create time."""
    endpoint = aip.Endpoint(display_name=want.display_name, labels=want.labels)
    if want.kind is not EndpointKind.PUBLIC:
        endpoint.client_connection_config = aip.ClientConnectionConfig(
            inference_timeout=timedelta(seconds=want.inference_timeout_s))
    if want.kind is EndpointKind.DEDICATED:
        endpoint.dedicated_endpoint_enabled = True
    elif want.kind is EndpointKind.PSC:
        config = aip.PrivateServiceConnectConfig(
            enable_private_service_connect=True,
            project_allowlist=list(want.psc_project_allowlist))
        if want.psc_network:
            project = want.psc_network.split("/")[1]
            config.psc_automation_configs = [
                aip.PSCAutomationConfig(project_id=project, network=want.psc_network)]
        endpoint.private_service_connect_config = config
    elif want.kind is EndpointKind.VPC_PEERING:
        endpoint.network = want.network
    return endpoint


def model_message(aip: Any, want: DesiredModel) -> Any:
    """A Model version: image and container spec are immutable once uploaded."""
    spec = aip.ModelContainerSpec(
        image_uri=want.image_uri,
        env=[aip.EnvVar(name=k, value=v) for k, v in want.env],
        ports=[aip.Port(container_port=want.port)],
        predict_route=want.predict_route,
        health_route=want.health_route,
    )
    model = aip.Model(display_name=want.display_name, container_spec=spec, labels=want.labels,
                      version_aliases=list(want.aliases),
                      version_description=f"fingerprint {want.fingerprint}")
    if want.artifact_uri:
        model.artifact_uri = want.artifact_uri
    return model


def dedicated_resources(aip: Any, r: DesiredResources) -> Any:
    machine = aip.MachineSpec(machine_type=r.machine_type)
    if r.accelerator_type:
        machine.accelerator_type = getattr(aip.AcceleratorType, r.accelerator_type)
        machine.accelerator_count = r.accelerator_count
    resources = aip.DedicatedResources(
        machine_spec=machine,
        min_replica_count=r.min_replicas,
        max_replica_count=r.max_replicas,
        spot=r.spot,
        autoscaling_metric_specs=[aip.AutoscalingMetricSpec(metric_name=m, target=t)
                                  for m, t in r.autoscaling],
    )
    if r.required_replicas:
        resources.required_replica_count = r.required_replicas
    if r.scale_to_zero:
        scaleup, idle = r.scale_to_zero
        resources.scale_to_zero_spec = aip.DedicatedResources.ScaleToZeroSpec(
            min_scaleup_period=timedelta(seconds=scaleup),
            idle_scaledown_period=timedelta(seconds=idle))
    return resources


def deployed_model_message(aip: Any, request: DeployModel, version_ref: str) -> Any:
    """The DeployedModel, with the deterministic id that makes a retried deploy detectable."""
    deployed = aip.DeployedModel(
        id=request.deployed_model_id,
        model=version_ref,
        display_name=request.display_name,
        dedicated_resources=dedicated_resources(aip, request.resources),
    )
    if request.resources.service_account:
        deployed.service_account = request.resources.service_account
    return deployed


def alert_policy_message(alert: DesiredAlert, channels: list[str] | tuple[str, ...],
                         name: str = "") -> Any:
    """A p99 latency or error-rate policy on the endpoint's online prediction metrics."""
    from google.cloud import monitoring_v3

    aggregation = monitoring_v3.Aggregation
    if alert.kind == "latency":
        aggregations = [aggregation(
            alignment_period=timedelta(seconds=60),
            per_series_aligner=aggregation.Aligner.ALIGN_PERCENTILE_99,
            cross_series_reducer=aggregation.Reducer.REDUCE_MAX,
            group_by_fields=["resource.label.endpoint_id", "metric.label.deployed_model_id"])]
        denominator: list[Any] = []
    else:
        aggregations = [aggregation(
            alignment_period=timedelta(seconds=60),
            per_series_aligner=aggregation.Aligner.ALIGN_DELTA,
            cross_series_reducer=aggregation.Reducer.REDUCE_SUM,
            group_by_fields=["resource.label.endpoint_id"])]
        denominator = list(aggregations)
    threshold = monitoring_v3.AlertPolicy.Condition.MetricThreshold(
        filter=alert.filter,
        aggregations=aggregations,
        comparison=monitoring_v3.ComparisonType.COMPARISON_GT,
        threshold_value=alert.threshold,
        duration=timedelta(seconds=alert.duration_s),
        trigger=monitoring_v3.AlertPolicy.Condition.Trigger(count=1),
    )
    if alert.denominator_filter:
        threshold.denominator_filter = alert.denominator_filter
        threshold.denominator_aggregations = denominator
    unit = "ms" if alert.kind == "latency" else "of predictions"
    policy = monitoring_v3.AlertPolicy(
        display_name=alert.display_name,
        user_labels=alert.labels,
        combiner=monitoring_v3.AlertPolicy.ConditionCombinerType.OR,
        conditions=[monitoring_v3.AlertPolicy.Condition(
            display_name=f"{alert.kind} above {alert.threshold:g} {unit}",
            condition_threshold=threshold)],
        notification_channels=list(channels),
        enabled=True,
        documentation=monitoring_v3.AlertPolicy.Documentation(
            content=f"Managed by vxdeploy (profile {alert.labels.get('vxdeploy-endpoint')}). "
                    "Change thresholds in the profile's [alerts] section, not here.",
            mime_type="text/markdown"),
    )
    if name:
        policy.name = name
    return policy
