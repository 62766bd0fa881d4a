"""AlertPolicyService through the real client over gRPC: CRUD, filters, validation."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import monitoring_v3 as m
from google.protobuf import field_mask_pb2

PARENT = "projects/demo"


def test_create_get_delete(mon, policy_factory) -> None:
    created = mon.policies.create_alert_policy(name=PARENT, alert_policy=policy_factory())
    assert created.name.startswith("projects/demo/alertPolicies/")
    assert created.conditions[0].name.startswith(created.name + "/conditions/")
    assert created.enabled is True
    assert created.creation_record.mutate_time.year >= 2024
    fetched = mon.policies.get_alert_policy(name=created.name)
    assert fetched == created
    cond = fetched.conditions[0].condition_threshold
    assert cond.aggregations[0].per_series_aligner == m.Aggregation.Aligner.ALIGN_PERCENTILE_99
    assert cond.duration.total_seconds() == 120
    mon.policies.delete_alert_policy(name=created.name)
    with pytest.raises(exceptions.NotFound, match="does not exist"):
        mon.policies.get_alert_policy(name=created.name)
    with pytest.raises(exceptions.NotFound):
        mon.policies.delete_alert_policy(name=created.name)


def test_list_filters_and_pages(mon, policy_factory) -> None:
    names = []
    for i in range(5):
        labels = {"managed-by": "vxdeploy", "profile": "prod" if i % 2 else "dev"}
        policy = policy_factory(f"vx-{i}", user_labels=labels)
        names.append(mon.policies.create_alert_policy(name=PARENT, alert_policy=policy).name)
    mon.policies.create_alert_policy(
        name="projects/other", alert_policy=policy_factory("elsewhere")
    )

    everything = list(mon.policies.list_alert_policies(name=PARENT))
    assert sorted(p.name for p in everything) == sorted(names)

    by_label = m.ListAlertPoliciesRequest(name=PARENT, filter='user_labels.profile = "prod"')
    assert sorted(p.display_name for p in mon.policies.list_alert_policies(request=by_label)) == [
        "vx-1",
        "vx-3",
    ]
    by_name = m.ListAlertPoliciesRequest(
        name=PARENT, filter='display_name = "vx-2" AND user_label.managed-by = "vxdeploy"'
    )
    assert [p.display_name for p in mon.policies.list_alert_policies(request=by_name)] == ["vx-2"]
    prefix = m.ListAlertPoliciesRequest(
        name=PARENT,
        filter='display_name = starts_with("vx-")',
        order_by="display_name",
        page_size=2,
    )
    pager = mon.policies.list_alert_policies(request=prefix)
    pages = [[p.display_name for p in page.alert_policies] for page in pager.pages]
    assert pages == [["vx-0", "vx-1"], ["vx-2", "vx-3"], ["vx-4"]]

    with pytest.raises(exceptions.InvalidArgument, match="only terms joined by AND"):
        list(
            mon.policies.list_alert_policies(
                request=m.ListAlertPoliciesRequest(
                    name=PARENT, filter='display_name = "a" OR display_name = "b"'
                )
            )
        )
    with pytest.raises(exceptions.InvalidArgument, match="projects/PROJECT_ID_OR_NUMBER"):
        list(mon.policies.list_alert_policies(name="demo"))


def test_update_with_mask_replaces_only_the_named_fields(mon, policy_factory) -> None:
    created = mon.policies.create_alert_policy(name=PARENT, alert_policy=policy_factory())
    change = m.AlertPolicy(
        name=created.name,
        display_name="renamed",
        user_labels={"owner": "team-a"},
        documentation={"content": "runbook: restart it"},
        conditions=[],  # not in the mask: must be left alone
    )
    updated = mon.policies.update_alert_policy(
        alert_policy=change,
        update_mask=field_mask_pb2.FieldMask(
            paths=["display_name", "user_labels", "documentation.content"]
        ),
    )
    assert updated.display_name == "renamed"
    assert dict(updated.user_labels) == {"owner": "team-a"}  # replaced, not merged
    assert updated.documentation.content == "runbook: restart it"
    assert updated.conditions == created.conditions
    assert updated.creation_record == created.creation_record
    assert updated.mutation_record.mutate_time >= created.creation_record.mutate_time
    assert mon.policies.get_alert_policy(name=created.name) == updated

    with pytest.raises(exceptions.InvalidArgument, match="not an updatable field"):
        mon.policies.update_alert_policy(
            alert_policy=change, update_mask=field_mask_pb2.FieldMask(paths=["colour"])
        )


def test_update_without_mask_replaces_the_policy(mon, policy_factory) -> None:
    created = mon.policies.create_alert_policy(name=PARENT, alert_policy=policy_factory())
    whole = m.AlertPolicy(created)
    whole.conditions.append(
        m.AlertPolicy.Condition(
            display_name="error rate",
            condition_threshold={
                "filter": 'metric.type = "aiplatform.googleapis.com/prediction/online/error_count"',
                "comparison": m.ComparisonType.COMPARISON_GT,
                "threshold_value": 5,
                "duration": {"seconds": 0},
            },
        )
    )
    updated = mon.policies.update_alert_policy(alert_policy=whole)
    assert len(updated.conditions) == 2
    assert updated.conditions[0].name == created.conditions[0].name  # kept
    assert updated.conditions[1].name.startswith(created.name + "/conditions/")  # named

    stranger = m.AlertPolicy(updated)
    stranger.conditions[1].name = "projects/demo/alertPolicies/1/conditions/2"
    with pytest.raises(exceptions.InvalidArgument, match="is not a condition of this policy"):
        mon.policies.update_alert_policy(alert_policy=stranger)
    with pytest.raises(exceptions.NotFound):
        mon.policies.update_alert_policy(
            alert_policy=m.AlertPolicy(updated, name="projects/demo/alertPolicies/404")
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"filter": 'metric.type = "aiplatform.googleapis.com/prediction/latencies"'},
            "prediction/latencies' does not exist .did you mean "
            "aiplatform.googleapis.com/prediction/online/prediction_latencies",
        ),
        ({"duration": {"seconds": 90}}, r"duration must be a multiple of 60s .* got 90s"),
        ({"comparison": m.ComparisonType.COMPARISON_UNSPECIFIED}, "comparison is required"),
        (
            {"filter": 'resource.type = "aiplatform.googleapis.com/Endpoint"'},
            "must select one metric",
        ),
        ({"filter": 'metric.type = "x" OR metric.type = "y"'}, "only terms joined by AND"),
        (
            {
                "aggregations": [
                    {
                        "alignment_period": {"seconds": 60},
                        "per_series_aligner": m.Aggregation.Aligner.ALIGN_RATE,
                    }
                ]
            },
            "ALIGN_RATE is not valid for the DELTA DISTRIBUTION metric",
        ),
        (
            {
                "aggregations": [
                    {
                        "alignment_period": {"seconds": 30},
                        "per_series_aligner": m.Aggregation.Aligner.ALIGN_DELTA,
                    }
                ]
            },
            "alignment_period must be at least 60s, got 30s",
        ),
    ],
)
def test_invalid_conditions_are_rejected(mon, policy_factory, p99, change, message) -> None:
    policy = policy_factory(conditions=[p99(**change)])
    with pytest.raises(exceptions.InvalidArgument, match=message):
        mon.policies.create_alert_policy(name=PARENT, alert_policy=policy)
    assert list(mon.policies.list_alert_policies(name=PARENT)) == []


def test_policy_level_validation(mon, policy_factory, p99) -> None:
    with pytest.raises(exceptions.InvalidArgument, match="display_name is required"):
        mon.policies.create_alert_policy(name=PARENT, alert_policy=policy_factory(""))
    with pytest.raises(exceptions.InvalidArgument, match="at least one condition"):
        mon.policies.create_alert_policy(name=PARENT, alert_policy=policy_factory(conditions=[]))
    two = policy_factory(
        combiner=m.AlertPolicy.ConditionCombinerType.COMBINE_UNSPECIFIED,
        conditions=[p99(), p99()],
    )
    with pytest.raises(exceptions.InvalidArgument, match="combiner is required"):
        mon.policies.create_alert_policy(name=PARENT, alert_policy=two)
    ghost = policy_factory(notification_channels=["projects/demo/notificationChannels/123"])
    with pytest.raises(exceptions.NotFound, match=r"notification channel .* does not exist"):
        mon.policies.create_alert_policy(name=PARENT, alert_policy=ghost)


def test_policies_survive_a_restart(mon, reconnect, policy_factory) -> None:
    created = mon.policies.create_alert_policy(name=PARENT, alert_policy=policy_factory())
    mon.close()
    again = reconnect(mon.state_dir)
    assert again.policies.get_alert_policy(name=created.name) == created
    assert [p.name for p in again.policies.list_alert_policies(name=PARENT)] == [created.name]
