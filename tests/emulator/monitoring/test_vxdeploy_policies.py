"""Contract: the alert policies vxdeploy itself builds from every example profile are
accepted by the emulator, and come back as sent (what `plan` compares against)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vxdeploy.desired import desired_state
from vxdeploy.paths import example_profiles_dir
from vxdeploy.profile.loader import list_profiles, load_profile
from vxdeploy.vertex.requests import alert_policy_message

PROFILES = [p.stem for p in list_profiles(example_profiles_dir()) if p.stem != "base"]


@pytest.mark.parametrize("name", PROFILES)
def test_example_profiles_alerts_are_accepted(mon, name: str) -> None:
    loaded = load_profile(name, example_profiles_dir(), environ={})
    desired = desired_state(loaded.profile, "local/image:1")
    assert desired.alerts, f"{name} builds no alerts"
    parent = f"projects/{desired.project}"
    for alert in desired.alerts:
        sent = alert_policy_message(alert, channels=[])
        created = mon.policies.create_alert_policy(name=parent, alert_policy=sent)
        assert created.display_name == sent.display_name
        assert created.conditions[0].condition_threshold == sent.conditions[0].condition_threshold
        assert dict(created.user_labels) == dict(sent.user_labels)


def test_there_are_example_profiles() -> None:
    assert len(PROFILES) >= 3, Path(example_profiles_dir())
