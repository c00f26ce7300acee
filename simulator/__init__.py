"""A simulated phone network on loopback: SIP UAS processes that answer numbers with personas.

`python manage.py simulate_pstn --port 5080` starts a front process (`front.py`) that answers every INVITE
with a 302 redirect to one of N worker processes (`worker.py`), each a pjsua2 Endpoint with up to four calls.
The dialed number's last digit picks the persona (`personas.py`); people speak with eSpeak NG, take turns
using an energy VAD on what they hear (`conversation.py`), and every call is logged as a JSON line
(`calllog.py`) so tests can check the far end's view. See docs/simulator.md.
"""
