"""`python -m vxtrt.prebuild ARTIFACTS`: fill the cache before the first start.

Exports the ONNX graph and, where TensorRT and a GPU are present, builds the engine, into
VXSERVE_TRT_CACHE_DIR with the same keys the server uses, so a server started later on
the same GPU model finds them and is ready in seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from vxserve.artifacts import fetch_artifacts, read_manifest
    from vxserve.errors import ConfigError

    from .export import to_onnx
    from .handler import choose_backend
    from .settings import TrtSettings

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m vxtrt.prebuild ARTIFACTS (a folder, file:// or gs:// URI)",
              file=sys.stderr)
        return 2
    try:
        settings = TrtSettings.from_env()
        manifest = read_manifest(fetch_artifacts(args[0], settings.serve.cache_dir))
        onnx_path = to_onnx(manifest, settings.cache_dir)
        print(f"onnx: {onnx_path}")
        backend = choose_backend(settings, Path(onnx_path), manifest)
        print(f"backend: {backend.describe()}")
        backend.close()
    except ConfigError as exc:
        print(f"vxtrt.prebuild: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
