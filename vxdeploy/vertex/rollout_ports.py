"""The rollout's endpoint and alias ports over the one reader and the one writer.

No GAPIC call here: reads are `reader`'s live picture, writes are `Writer` verbs, so a
rollout step and a deploy change reach Vertex (or the emulator) the same way.
"""

from __future__ import annotations

from vxdeploy.errors import NotFoundError
from vxdeploy.live import LiveDeployedModel, LiveEndpoint, LiveState
from vxdeploy.verbs import SetAliases
from vxdeploy.vertex.reader import read_endpoint_named
from vxdeploy.vertex.writer import Writer


class VertexEndpoint:
    """EndpointPort and AliasPort for one endpoint."""

    def __init__(self, writer: Writer, endpoint_name: str):
        self.writer = writer
        self.name = endpoint_name

    def read(self) -> LiveEndpoint:
        endpoint = read_endpoint_named(self.writer.conn, self.name, LiveState())
        if endpoint is None:
            raise NotFoundError(f"endpoint {self.name} does not exist",
                                hint="deploy the profile first: `vxdeploy deploy --profile "
                                     "NAME`")
        return endpoint

    def write(self, etag: str, traffic: dict[str, int], labels: dict[str, str]) -> LiveEndpoint:
        return self.writer.set_traffic(self.name, traffic, etag=etag, labels=labels)

    def undeploy(self, deployed_model_id: str) -> None:
        self.writer.undeploy_and_wait(self.name, deployed_model_id, missing_ok=False)

    def move(self, alias: str, old: LiveDeployedModel | None, new: LiveDeployedModel,
             drop: tuple[str, ...] = ()) -> None:
        """Take `alias` off whoever holds it (when `old` had it), then put it on `new`,
        dropping `drop`: removal first works whether or not the registry would move an
        alias by itself, and a cut in between leaves no holder, which `roles` covers."""
        moving = old is not None and alias in old.aliases \
            and old.versioned_name != new.versioned_name
        self.writer.set_aliases(SetAliases(new.versioned_name, (alias,),
                                           tuple(a for a in drop if a in new.aliases),
                                           move_from_others=moving), new.versioned_name)
