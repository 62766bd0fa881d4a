"""`python -m vxserve.warm ARTIFACTS`: fill the torch.compile cache before the first start.

Run at image build time (`vxdeploy build` adds it as a build step when the profile asks for
`model.compile = "compile"`) or by hand: it loads the model the way the servers do,
compiles it on the example instances into VXSERVE_COMPILE_CACHE_DIR (default
$VXSERVE_CACHE_DIR/compile) and prints what it compiled and whether the cache was hit, so
a replica started from the image finds the kernels instead of compiling them again.
"""

from __future__ import annotations

import json
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    from .artifacts import fetch_artifacts, read_manifest
    from .compiled import compile_mode, compile_model
    from .config import ServeConfig
    from .device import select_device
    from .errors import ConfigError
    from .loading import load_torch_model

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m vxserve.warm ARTIFACTS (a folder, file:// or gs:// URI)",
              file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
    try:
        config = ServeConfig.from_env()
        manifest = read_manifest(fetch_artifacts(args[0], config.cache_dir))
        if compile_mode(manifest, config) == "off" or manifest.format == "aoti":
            raise ConfigError(
                f"{manifest.directory}: nothing to warm: the model is not torch.compiled "
                '(set "compile": "compile" in vxserve.json or VXSERVE_COMPILE=compile)'
            )
        device = select_device(config)
        model = load_torch_model(manifest, device)
        _, report = compile_model(model, manifest, config, device)
    except ConfigError as exc:
        print(f"vxserve.warm: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
