"""Why a model server could not start, with the evidence (its log) attached."""

from __future__ import annotations

from vxdeploy.errors import EngineUnavailableError, VxError


class ModelServerStartError(VxError):
    """The server exited, never became healthy, or could not be launched at all.

    `log_tail` carries the last lines the server wrote, because "it did not start" is
    useless without the traceback that says why.
    """

    def __init__(self, message: str, *, log_tail: str = "", hint: str | None = None):
        if log_tail:
            message = f"{message}\n--- last lines of the server log ---\n{log_tail}"
        super().__init__(message, hint=hint)
        self.log_tail = log_tail


class DockerEngineUnavailableError(EngineUnavailableError, ModelServerStartError):
    """No Docker engine answered; the message says how to get one."""

    def __init__(self, detail: str):
        from vxdeploy.build.engine import engine_hint

        ModelServerStartError.__init__(
            self,
            f"no Docker engine is reachable ({detail})",
            hint=(
                f"{engine_hint()}; a bundled server (flask, torchserve, tensorrt) can run "
                "as a process instead (model label vxdeploy-runtime=process), a custom "
                "container only in Docker"
            ),
        )
