"""Names the emulator's server, its admin client and `vxdeploy local` must spell alike.

No imports, so the lightest module (the CLI's daemon control) can use it. Names shared
with the rest of vxdeploy (labels, aliases, metric types) live in `vxdeploy/names.py`.
"""

from __future__ import annotations

ADMIN_PREFIX = "/_emulator"  # the operator and test surface (see admin.py)

# The daemon's `{"rest_url", "pid", ...}` file in its state directory: the server writes it,
# `vxdeploy local` (control.py) reads it.
INFO_FILE = "emulator.json"

# Every socket the emulator opens, or tells a model server to open: loopback only.
LOOPBACK_HOST = "127.0.0.1"

# What google-cloud-storage (in model servers and user containers) reads to find the local
# Cloud Storage: storage.py runs it, the runtimes pass it on.
STORAGE_ENV = "STORAGE_EMULATOR_HOST"
