"""The environment of a UA worker, built from an explicit list (audit F1): nothing else is inherited.

A UA worker runs the media bridge, which reads the agent's API key from the environment variable an agent profile
names. Profiles may only name variables of ``AI_API_KEY_ENVS`` (media/endpoints.py), and the worker is given only
what it needs besides: its settings, the database and Redis, the trunk-password keys, its own ``UA_*`` and
``AI_*`` tunables. Cloud credentials, deploy tokens or other services' passwords in the supervisor's environment
never reach it. ``UA_WORKER_ENV_EXTRA`` (comma separated names) adds variables a deployment needs.
"""

from __future__ import annotations

from collections.abc import Mapping

DEFAULT_API_KEY_ENVS = ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "AGENT_API_KEY")

# What any Python process needs, what the settings modules read, and the TLS trust store settings.
PASSED_NAMES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV",
    "SSL_CERT_FILE", "SSL_CERT_DIR",
    "DJANGO_SETTINGS_MODULE", "DJANGO_SECRET_KEY", "DJANGO_DEBUG", "DJANGO_ALLOWED_HOSTS",
    "DATABASE_URL", "DB_CONN_MAX_AGE", "REDIS_URL", "TRUNK_SECRET_KEYS",
    "LOCAL_AGENT_URL", "LOCAL_AGENT_TOKEN", "MEDIA_ROOT", "RECORDINGS_ROOT", "TEST_MEDIA_ROOT", "LOG_LEVEL",
})
PASSED_PREFIXES = ("UA_", "AI_", "LC_")


def worker_environment(source: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``source`` a UA worker may see.

    Args:
        source: the supervisor's environment (``os.environ`` merged with its overrides).

    Returns:
        Only the listed names, the ``UA_``/``AI_``/``LC_`` prefixes, the API key variables allowed by
        ``AI_API_KEY_ENVS`` (default: the providers' own) and the names in ``UA_WORKER_ENV_EXTRA``.
    """
    key_names = _names(source.get("AI_API_KEY_ENVS")) or set(DEFAULT_API_KEY_ENVS)
    allowed = PASSED_NAMES | key_names | _names(source.get("UA_WORKER_ENV_EXTRA"))
    return {name: value for name, value in source.items()
            if name in allowed or name.startswith(PASSED_PREFIXES)}


def _names(value: str | None) -> set[str]:
    return {name.strip() for name in (value or "").split(",") if name.strip()}
