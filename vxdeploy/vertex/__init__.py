"""Thin adapters over the GAPIC clients: one code path for Vertex and the local emulator."""
