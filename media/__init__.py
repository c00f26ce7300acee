"""The media bridge library: audio between SIP calls and AI agents. No ORM calls in its event loop."""
