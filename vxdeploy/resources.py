"""What identifies a deployment's machines, shared by desired and live state.

MutateDeployedModel can change replica bounds and autoscaling targets in place; anything
else about the machines means a new deployed model. Desired and live state expose both
halves the same way so the plan can compare them directly.
"""

from __future__ import annotations

IMMUTABLE_FIELDS = ("machine_type", "accelerator_type", "accelerator_count", "spot",
                    "service_account", "scale_to_zero", "required_replicas")
MUTABLE_FIELDS = ("min_replicas", "max_replicas", "autoscaling")


class ReplicaFields:
    """Mixin for dataclasses that carry the fields above."""

    def immutable_key(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in IMMUTABLE_FIELDS}

    def mutable(self) -> dict[str, object]:
        values = {name: getattr(self, name) for name in MUTABLE_FIELDS}
        values["autoscaling"] = dict(values["autoscaling"])
        return values
