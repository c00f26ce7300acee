"""Validated configuration of the media bridge: how one call is bridged, and to which agent.

Small frozen dataclasses with defaults; a bad value fails at construction with a message naming the field,
so a misconfigured campaign is rejected when its call starts, not halfway through it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from media.audio.frames import FRAME_MS
from media.bridge.prompts import DEFAULT_VARIABLE_MAX_CHARS
from media.endpoints import EndpointPolicy, check_agent_endpoint

PROVIDERS = ("openai_realtime", "gemini_live", "twilio_stream", "local")  # campaigns.choices.AgentProvider

DEFAULT_URLS = {
    "openai_realtime": "wss://api.openai.com/v1/realtime",
    "gemini_live": "wss://generativelanguage.googleapis.com/ws/"
    "google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent",
    "local": "ws://127.0.0.1:8765/v1/realtime",  # the Procfile's `agent` process (AGENT_PORT)
}
DEFAULT_MODELS = {
    "openai_realtime": "gpt-realtime",
    "gemini_live": "gemini-2.5-flash-native-audio-preview-12-2025",
    "local": "local-agent",
}
DEFAULT_KEY_ENVS = {"openai_realtime": "OPENAI_API_KEY", "gemini_live": "GOOGLE_API_KEY"}
DEFAULT_VOICES = {"openai_realtime": "marin", "gemini_live": "Puck", "local": "marin"}
DEFAULT_FALLBACK = "Sorry, we are having technical difficulties. We will call you back later. Goodbye."


def _positive(name: str, value: float) -> None:
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")


@dataclass(frozen=True)
class BridgeConfig:
    """How the bridge handles every call of a UA process.

    Attributes:
        inbound_buffer_ms: caller audio kept while the AI is not reading (connecting, stalled); older frames
            are dropped first. Bounded so a stalled socket never grows memory.
        session_timeout_s: time allowed to connect and get the session confirmed; slower is an AI failure.
        fallback_message: spoken (synthesised locally) when the AI fails, before hanging up.
        fallback_voice: eSpeak NG voice of the fallback message.
        recordings_root: folder of the stereo WAV files; None records nothing.
        speech_rms_threshold: PCM16 RMS above which a caller frame counts as speech (first-response latency
            and caller segment times when the provider reports none).
        end_call_grace_ms: after the agent asks to end the call, how long the bridge waits for trailing audio
            (the goodbye) before hanging up once playout is empty.
        max_bad_events: malformed messages tolerated from the AI before the call is failed.
        recording_flush_s: how often recorded audio is written to disk.
        close_timeout_s: time allowed to close the AI connection and write the recording at the end.
        transfer_available: whether the UA can transfer calls (the `transfer_call` tool says so to the model).
        transcription_model: OpenAI input transcription model.
        collect_stats: keep per-frame latency samples (benchmarks and tests).
        prompt_variable_max_chars: the longest contact variable value sent to the AI or spoken (F13); longer
            values are cut.
        max_playout_ms: the most agent audio queued for playback; an AI that sends more (faster than real time)
            fails the call as ``ai_error`` (F20).
        ai_silence_timeout_s: an AI that sends no audio for this long after the caller's last speech fails the
            call as ``ai_error`` (F20: a stalled model with its socket open).
        transcribe_after_handover: after a bridged or warm transfer, the UA transcribes both people itself.
    """

    inbound_buffer_ms: int = 1000
    session_timeout_s: float = 5.0
    fallback_message: str = DEFAULT_FALLBACK
    fallback_voice: str = "en-us"
    recordings_root: Path | None = None
    speech_rms_threshold: int = 300
    end_call_grace_ms: int = 800
    max_bad_events: int = 3
    recording_flush_s: float = 1.0
    close_timeout_s: float = 2.0
    transfer_available: bool = False
    transcription_model: str = "gpt-4o-mini-transcribe"
    collect_stats: bool = False
    prompt_variable_max_chars: int = DEFAULT_VARIABLE_MAX_CHARS
    max_playout_ms: int = 30_000
    ai_silence_timeout_s: float = 15.0
    transcribe_after_handover: bool = True

    def __post_init__(self) -> None:
        if self.inbound_buffer_ms < FRAME_MS or self.inbound_buffer_ms % FRAME_MS:
            raise ValueError(
                f"inbound_buffer_ms must be a positive multiple of {FRAME_MS}, got {self.inbound_buffer_ms!r}"
            )
        _positive("session_timeout_s", self.session_timeout_s)
        _positive("recording_flush_s", self.recording_flush_s)
        _positive("close_timeout_s", self.close_timeout_s)
        if self.speech_rms_threshold < 0:
            raise ValueError(f"speech_rms_threshold must be >= 0, got {self.speech_rms_threshold!r}")
        if self.end_call_grace_ms < 0:
            raise ValueError(f"end_call_grace_ms must be >= 0, got {self.end_call_grace_ms!r}")
        if self.max_playout_ms < 1000:
            raise ValueError(f"max_playout_ms must be >= 1000, got {self.max_playout_ms!r}")
        _positive("ai_silence_timeout_s", self.ai_silence_timeout_s)
        if self.prompt_variable_max_chars < 1:
            raise ValueError(f"prompt_variable_max_chars must be >= 1, got {self.prompt_variable_max_chars!r}")
        if self.max_bad_events < 1:
            raise ValueError(f"max_bad_events must be >= 1, got {self.max_bad_events!r}")
        if self.recordings_root is not None and not isinstance(self.recordings_root, Path):
            object.__setattr__(self, "recordings_root", Path(self.recordings_root))

    @property
    def inbound_buffer_frames(self) -> int:
        """The inbound buffer's capacity in 20 ms frames."""
        return self.inbound_buffer_ms // FRAME_MS


@dataclass(frozen=True)
class AgentConfig:
    """Which AI a call talks to and what it is told: the campaign's AgentProfile, detached from the ORM.

    Attributes:
        provider: one of `PROVIDERS`.
        prompt_template: instructions; ``{{variable}}`` refers to the contact's value, sent in a data section
            (`media.bridge.prompts.render_instructions`).
        outcome_schema: the campaign's outcome schema (labels and typed fields).
        model: provider model name; blank uses the provider default.
        voice: provider voice; blank uses the provider default.
        url: WebSocket URL; blank uses the provider default (for ``local``, the local agent).
        api_key_env: environment variable holding the key; blank uses the provider default.
        greeting: first words; ``{{variables}}`` allowed; blank lets the model wait for the callee.
        fallback_message: spoken when the AI fails; blank uses the bridge's.
        language: ISO-639-1 language of the call (transcription hint).
        open_call: with no greeting, ask the model to speak first at once. Set when the callee's first words were
            already spent (heard by the answering-machine detector), so the model would otherwise wait in silence.
        policy: the allow-lists the URL and key variable are checked against (`media.endpoints`); the caller
            builds it from its settings. The default is the strict built-in one.
        token: the shared local agent token (``LOCAL_AGENT_TOKEN``), sent as the bearer by provider ``local``
            only; never printed.
    """

    provider: str
    prompt_template: str = ""
    outcome_schema: list[dict[str, Any]] = field(default_factory=list)
    model: str = ""
    voice: str = ""
    url: str = ""
    api_key_env: str = ""
    greeting: str = ""
    fallback_message: str = ""
    language: str = "en"
    open_call: bool = False
    policy: EndpointPolicy = field(default_factory=EndpointPolicy, repr=False, compare=False)
    token: str = field(default="", repr=False, compare=False)

    def __post_init__(self) -> None:
        from media.outcomes import OutcomeSchemaError, validate_outcome_schema

        if self.provider not in PROVIDERS:
            raise ValueError(f"provider must be one of {', '.join(PROVIDERS)}, got {self.provider!r}")
        if self.token and self.provider != "local":
            raise ValueError("token: only the local agent takes the shared token")
        # F1/F7: checked for every call, whatever the control plane let through (a row saved before the rule,
        # a command from elsewhere): the key variable's value is about to be sent to this URL.
        check_agent_endpoint(self.provider, self.resolved_url, self.resolved_key_env, self.policy,
                             token=bool(self.token))
        if self.outcome_schema:
            try:
                validate_outcome_schema(self.outcome_schema)
            except OutcomeSchemaError as exc:
                raise ValueError(f"outcome_schema: {exc}") from exc

    @classmethod
    def from_profile(cls, profile: Any, policy: EndpointPolicy | None = None) -> AgentConfig:
        """Copy the fields of a `campaigns.models.AgentProfile` (read on the caller's side, never in the loop)."""
        return cls(
            provider=profile.provider,
            prompt_template=profile.prompt_template,
            outcome_schema=list(profile.outcome_schema or []),
            model=profile.model,
            voice=profile.voice,
            url=profile.url,
            api_key_env=profile.api_key_env,
            greeting=profile.greeting,
            fallback_message=profile.fallback_message,
            policy=policy or EndpointPolicy(),
        )

    @property
    def resolved_url(self) -> str:
        """The WebSocket URL to open (the profile's, else the provider default)."""
        return self.url or DEFAULT_URLS.get(self.provider, "")

    @property
    def resolved_model(self) -> str:
        """The model name (the profile's, else the provider default)."""
        return self.model or DEFAULT_MODELS.get(self.provider, "")

    @property
    def resolved_voice(self) -> str:
        """The voice (the profile's, else the provider default)."""
        return self.voice or DEFAULT_VOICES.get(self.provider, "")

    @property
    def resolved_key_env(self) -> str:
        """The environment variable naming the API key ("" when the provider needs none)."""
        return self.api_key_env or DEFAULT_KEY_ENVS.get(self.provider, "")


@dataclass(frozen=True)
class CallContext:
    """The call being bridged.

    Attributes:
        attempt_id: the CallAttempt id (names the recording and the log lines).
        variables: the contact's variables (prompt rendering, Twilio ``customParameters``).
        call_sid: an id for the call towards Twilio-style agents; derived from the attempt when blank.
        disclosures: ``(kind, text)`` pairs spoken before anything else, uninterruptible (the opening AI
            disclosure, the recording notice); where each was played is in ``CallResult.disclosures``.
    """

    attempt_id: int
    variables: dict[str, Any] = field(default_factory=dict)
    call_sid: str = ""
    disclosures: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.attempt_id < 0:
            raise ValueError(f"attempt_id must be >= 0, got {self.attempt_id!r}")
        if not isinstance(self.variables, dict):
            raise ValueError("variables must be a dict")
