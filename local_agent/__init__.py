"""The embedded local AI agent: an OpenAI-Realtime-compatible WebSocket server that needs no key and no network.

It listens (energy VAD), transcribes (PocketSphinx), follows the campaign's script and outcome schema with
simple rules (see :mod:`local_agent.script` for the script convention) and speaks (eSpeak NG).
Start it with ``python -m local_agent --port 8765`` or :func:`local_agent.server.start_in_thread`.
"""
