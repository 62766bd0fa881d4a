"""`python -m vxdeploy.emulator`: the emulator daemon that `vxdeploy local up` starts.

Runs until SIGTERM/SIGINT, then stops its model servers and removes `emulator.json`, so
a stale info file always means the daemon died without cleaning up (and is restarted).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vxdeploy.emulator",
                                     description="Local Vertex AI emulator daemon.")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0, help="REST port (0: any free port)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the traffic-split random source")
    parser.add_argument("--no-monitoring", action="store_true",
                        help="do not serve the Cloud Monitoring gRPC services")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from vxdeploy.emulator import storage
    from vxdeploy.emulator.config import EmulatorConfig
    from vxdeploy.emulator.server import EmulatorServer

    try:
        config = EmulatorConfig.from_env()
    except ValueError as error:
        print(f"python -m vxdeploy.emulator: {error}", file=sys.stderr)
        return 2

    # The local Cloud Storage runs beside the emulator: gs:// artifacts resolve against it
    # and every model server inherits STORAGE_EMULATOR_HOST.
    gcs = storage.StorageEmulator(args.state_dir).start()
    os.environ[storage.ENV] = gcs.url

    server = EmulatorServer(args.state_dir, port=args.port, seed=args.seed,
                            monitoring=not args.no_monitoring, config=config)
    done = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        logging.getLogger("vxdeploy.emulator").info("signal %d: shutting down", signum)
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    logging.getLogger("vxdeploy.emulator").info(
        "ready: rest %s, grpc %s, state %s", server.rest_url, server.grpc_target,
        server.state_dir)
    done.wait()
    server.stop(stop_servers=True)
    gcs.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
