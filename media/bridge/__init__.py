"""The media bridge: audio of one answered call between the UA's conference port and an AI agent.

`session.BridgeSession` bridges one call; `loop.MediaLoop` runs the sessions of a UA process. The package
imports nothing at import time so that the adapters can read `media.bridge.config` and `media.bridge.prompts`
without pulling the session (and with it the adapters) in.
"""
