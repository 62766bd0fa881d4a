"""Rollouts: traffic shifts, progressive canaries and automatic rollback.

`traffic` and `machine` are pure (no I/O) so the rules are table-tested; the runner talks
to Vertex only through the small ports in `ports`, implemented over the one reader and
writer in `vertex.rollout_ports`.
"""
