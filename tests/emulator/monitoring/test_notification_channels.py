"""NotificationChannelService through the real client over gRPC."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import monitoring_v3 as m

PARENT = "projects/demo"


def _email(name: str = "oncall", address: str = "oncall@example.com") -> m.NotificationChannel:
    return m.NotificationChannel(
        type_="email", display_name=name, labels={"email_address": address}
    )


def test_create_get_list_delete(mon) -> None:
    created = mon.channels.create_notification_channel(name=PARENT, notification_channel=_email())
    assert created.name.startswith("projects/demo/notificationChannels/")
    assert created.enabled is True
    assert created.verification_status == m.NotificationChannel.VerificationStatus.UNVERIFIED
    assert mon.channels.get_notification_channel(name=created.name) == created
    other = mon.channels.create_notification_channel(
        name=PARENT,
        notification_channel=m.NotificationChannel(
            type_="slack", display_name="alerts room", labels={"channel_name": "#alerts"}
        ),
    )
    listed = mon.channels.list_notification_channels(
        request=m.ListNotificationChannelsRequest(name=PARENT, filter='display_name = "oncall"')
    )
    assert [c.name for c in listed] == [created.name]
    by_type = m.ListNotificationChannelsRequest(name=PARENT, filter='type = "slack"')
    assert [c.name for c in mon.channels.list_notification_channels(request=by_type)] == [
        other.name
    ]
    assert len(list(mon.channels.list_notification_channels(name=PARENT))) == 2
    mon.channels.delete_notification_channel(name=created.name)
    with pytest.raises(exceptions.NotFound):
        mon.channels.get_notification_channel(name=created.name)


def test_validation(mon) -> None:
    bad_type = m.NotificationChannel(type_="carrier_pigeon", display_name="x")
    with pytest.raises(exceptions.InvalidArgument, match=r"allowed: .*email.*slack"):
        mon.channels.create_notification_channel(name=PARENT, notification_channel=bad_type)
    no_address = m.NotificationChannel(type_="email", display_name="x")
    with pytest.raises(exceptions.InvalidArgument, match="email channel needs email_address"):
        mon.channels.create_notification_channel(name=PARENT, notification_channel=no_address)
    with pytest.raises(exceptions.InvalidArgument, match="projects/PROJECT/notificationChannels"):
        mon.channels.get_notification_channel(name="notificationChannels/1")


def test_a_channel_in_use_needs_force(mon, policy_factory) -> None:
    channel = mon.channels.create_notification_channel(name=PARENT, notification_channel=_email())
    policy = mon.policies.create_alert_policy(
        name=PARENT, alert_policy=policy_factory(notification_channels=[channel.name])
    )
    assert list(policy.notification_channels) == [channel.name]
    with pytest.raises(exceptions.FailedPrecondition, match=policy.name):
        mon.channels.delete_notification_channel(name=channel.name)
    mon.channels.delete_notification_channel(name=channel.name, force=True)
    assert list(mon.policies.get_alert_policy(name=policy.name).notification_channels) == []


def test_channels_survive_a_restart(mon, reconnect) -> None:
    created = mon.channels.create_notification_channel(name=PARENT, notification_channel=_email())
    mon.close()
    again = reconnect(mon.state_dir)
    assert again.channels.get_notification_channel(name=created.name) == created
