"""The TensorRT server's handler keeps the event-loop path whenever its base handler can."""

from __future__ import annotations

from vxserve import ClassificationHandler
from vxserve.handler import quick_hooks
from vxtrt.handler import backend_handler
from vxtrt.settings import TrtSettings


class Tokenizing(ClassificationHandler):
    def preprocess(self, instances, parameters):  # a user's code: may block
        return super().preprocess(instances, parameters)


def test_the_backend_shape_check_does_not_push_requests_to_threads() -> None:
    settings = TrtSettings.from_env({"AIP_STORAGE_URI": "/nowhere"})
    assert quick_hooks(backend_handler(ClassificationHandler, settings))
    assert not quick_hooks(backend_handler(Tokenizing, settings))
