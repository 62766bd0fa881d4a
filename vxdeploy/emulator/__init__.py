"""The local Vertex emulator: Vertex's REST protocol on 127.0.0.1, really serving models.

Importing this package is cheap on purpose (the CLI imports `control` on every local-target
command); the server, codec and routes import the Google SDK inside themselves.
"""
