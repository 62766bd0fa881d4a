"""Names the emulator's server, its admin client and `vxdeploy local` must spell alike.

No imports, so the lightest module (the CLI's daemon control) can use it. Names shared
with the rest of vxdeploy (labels, aliases, metric types) live in `vxdeploy/names.py`.
"""

from __future__ import annotations

ADMIN_PREFIX = "/_emulator"  # the operator and test surface (see admin.py)
