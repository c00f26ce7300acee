"""Settings of the local agent's server, and its recognition statistics."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LocalAgentConfig:
    """Server settings.

    Attributes:
        pace: how much faster than real time audio deltas are sent (0 = as fast as possible).
        workers: threads for recognition and synthesis (shared by all connections).
        words_per_minute: eSpeak speaking rate at ``speed`` 1.0.
        token: shared bearer token every connection must present; required to listen off loopback.
        max_sessions: most sessions at once; more connections are refused with HTTP 503.
        ping_interval_s: how often each connection is pinged (a peer that stopped answering is dropped).
        ping_timeout_s: how long a ping may go unanswered.
    """

    pace: float = 4.0
    workers: int = 2
    words_per_minute: int = 165
    token: str = field(default="", repr=False)
    max_sessions: int = 16
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 20.0

    def __post_init__(self) -> None:
        if self.pace < 0:
            raise ValueError(f"LocalAgentConfig.pace must be >= 0, got {self.pace}")
        if self.workers < 1:
            raise ValueError(f"LocalAgentConfig.workers must be >= 1, got {self.workers}")
        if not 80 <= self.words_per_minute <= 450:
            raise ValueError(f"LocalAgentConfig.words_per_minute must be 80-450, got {self.words_per_minute}")
        if self.max_sessions < 1:
            raise ValueError(f"LocalAgentConfig.max_sessions must be >= 1, got {self.max_sessions}")
        if self.ping_interval_s <= 0 or self.ping_timeout_s <= 0:
            raise ValueError("LocalAgentConfig.ping_interval_s and ping_timeout_s must be positive")


@dataclass
class AsrStats:
    """Recognition cost over the server's life (for the CPU-per-audio-second figure)."""

    turns: int = 0
    audio_seconds: float = 0.0
    cpu_seconds: float = 0.0

    @property
    def cpu_per_audio_second(self) -> float:
        """CPU seconds spent per second of audio recognised."""
        return self.cpu_seconds / self.audio_seconds if self.audio_seconds else 0.0
