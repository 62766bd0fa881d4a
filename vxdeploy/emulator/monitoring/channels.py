"""NotificationChannelService: the channels alert policies notify (create/get/list/delete)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vxdeploy.emulator.monitoring.alert_policies import sort_by
from vxdeploy.emulator.monitoring.collection import Collection, new_id
from vxdeploy.emulator.monitoring.errors import ApiError, invalid, not_found
from vxdeploy.emulator.monitoring.filters import matches, parse_filter
from vxdeploy.emulator.monitoring.names import child_of, project_of
from vxdeploy.emulator.monitoring.paging import page

# Channel types and the labels each requires (from the channel descriptors Monitoring lists).
REQUIRED_LABELS: dict[str, tuple[str, ...]] = {
    "email": ("email_address",),
    "sms": ("number",),
    "slack": ("channel_name",),
    "pagerduty": ("service_key",),
    "webhook_tokenauth": ("url",),
    "webhook_basicauth": ("url", "username", "password"),
    "pubsub": ("topic",),
    "mobile_app": (),
    "google_chat": ("space",),
}


def _types() -> Any:
    from google.cloud import monitoring_v3

    return monitoring_v3


class NotificationChannels:
    """The request logic of google.monitoring.v3.NotificationChannelService."""

    def __init__(self, state_dir: Path):
        self._channels: Collection[Any] = Collection(
            Path(state_dir) / "monitoring" / "notification_channels.json",
            _types().NotificationChannel,
        )
        # Wired by the server to the alert policies: who names a channel, and forgetting it.
        self.in_use_by: Any = lambda name: []
        self.forget: Any = lambda name: None

    def exists(self, name: str) -> bool:
        return self._channels.get(name) is not None

    def create(self, request: Any) -> Any:
        project = project_of(request.name)
        channel = request.notification_channel
        kind = channel.type_
        if kind not in REQUIRED_LABELS:
            raise invalid(
                f"notification_channel.type {kind!r} is not a channel type; "
                f"allowed: {', '.join(sorted(REQUIRED_LABELS))}"
            )
        missing = [label for label in REQUIRED_LABELS[kind] if not channel.labels.get(label)]
        if missing:
            raise invalid(
                f"notification_channel.labels: a {kind} channel needs {', '.join(missing)}"
            )
        if not channel.display_name:
            raise invalid("notification_channel.display_name is required")
        channel.name = f"projects/{project}/notificationChannels/{new_id()}"
        if "enabled" not in channel:
            channel.enabled = True
        if kind == "email":
            channel.verification_status = _types().NotificationChannel.VerificationStatus.UNVERIFIED
        from google.protobuf import timestamp_pb2

        stamp = timestamp_pb2.Timestamp()
        stamp.FromNanoseconds(time.time_ns())
        channel.creation_record = _types().MutationRecord(
            mutate_time=stamp, mutated_by="vxdeploy-emulator"
        )
        self._channels.put(channel.name, channel)
        return channel

    def get(self, request: Any) -> Any:
        child_of(request.name, "notificationChannels")
        channel = self._channels.get(request.name)
        if channel is None:
            raise not_found(f"notification channel {request.name} does not exist")
        return channel

    def list(self, request: Any) -> Any:
        project = project_of(request.name)
        terms = parse_filter(request.filter)
        prefix = f"projects/{project}/notificationChannels/"

        def lookup(channel: Any) -> Callable[[str], str | None]:
            def get(key: str) -> str | None:
                value: str | None = None
                if key in ("display_name", "name", "description"):
                    value = getattr(channel, key)
                elif key == "type":
                    value = channel.type_
                elif key.startswith("labels."):
                    value = channel.labels.get(key[len("labels.") :])
                elif key.startswith("user_labels."):
                    value = channel.user_labels.get(key[len("user_labels.") :])
                return value

            return get

        found = self._channels.values(
            lambda c: c.name.startswith(prefix) and matches(terms, lookup(c))
        )
        sort_by(found, request.order_by, ("display_name", "name"))
        items, token = page(
            found, request.page_size, request.page_token, default_size=100, max_size=1000
        )
        return _types().ListNotificationChannelsResponse(
            notification_channels=items, next_page_token=token, total_size=len(found)
        )

    def delete(self, request: Any) -> Any:
        child_of(request.name, "notificationChannels")
        with self._channels.lock:
            if not self.exists(request.name):
                raise not_found(f"notification channel {request.name} does not exist")
            users = self.in_use_by(request.name)
            if users and not request.force:
                raise ApiError(
                    "FAILED_PRECONDITION",
                    f"notification channel {request.name} is used by alert policies "
                    f"{', '.join(users)}; remove it from them or delete with force=True",
                )
            self._channels.delete(request.name)
            if users:
                self.forget(request.name)  # force: the policies stop naming it, as Monitoring does
        from google.protobuf import empty_pb2

        return empty_pb2.Empty()
