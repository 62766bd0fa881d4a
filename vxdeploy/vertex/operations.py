"""Waiting for long-running operations with a deadline and a message people can act on."""

from __future__ import annotations

from typing import Any

from vxdeploy.errors import OperationTimeoutError

DEFAULT_DEADLINES_S = {
    "create endpoint": 600.0,
    "upload model": 1800.0,
    "deploy model": 3600.0,
    "undeploy model": 1800.0,
    "mutate deployed model": 1800.0,
    "delete": 900.0,
}


def wait(operation: Any, what: str, deadline_s: float | None = None) -> Any:
    """Block until `operation` finishes; past its deadline, say what is still running."""
    from concurrent.futures import TimeoutError as FutureTimeout

    from google.api_core import exceptions as gexc

    from vxdeploy.vertex.errors import translate
    from vxdeploy.waiting import waiting

    deadline = deadline_s if deadline_s is not None else DEFAULT_DEADLINES_S.get(what, 1800.0)
    # ".../endpoints/E/operations/ID" -> "endpoints/E": what the operation works on.
    parent = str(getattr(getattr(operation, "operation", None), "name", "") or "")
    on = "/".join(parent.split("/operations/")[0].split("/")[-2:]) if parent else ""
    try:
        with waiting(f"{what}{f' ({on})' if on else ''}",
                     f"the operation is running (deadline {deadline:.0f} s)"):
            return operation.result(timeout=deadline)
    except (FutureTimeout, gexc.RetryError, TimeoutError) as exc:
        name = getattr(getattr(operation, "operation", None), "name", "?")
        raise OperationTimeoutError(
            f"{what} did not finish within {deadline:.0f} s (operation {name})",
            hint="the operation may still complete; run the same command again later and it "
            "will pick up where this one stopped") from exc
    except gexc.GoogleAPICallError as exc:
        raise translate(exc, what) from exc
