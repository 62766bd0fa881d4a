"""`python -m vxdeploy` is the same as the `vxdeploy` console script."""

from vxdeploy.cli import main

main()
