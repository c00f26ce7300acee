"""The local agent's dialogue: a simple script read from the session instructions, plus outcome rules.

Script convention
-----------------
The session ``instructions`` (the campaign's rendered prompt) may contain lines of the form ``Key: text``
(case-insensitive, anywhere in the prompt, optionally after ``-`` or ``*``). Everything else in the prompt
is ignored by the local agent (a real model reads it).

Contact values come in a ``<contact_data>`` section (`media.bridge.prompts.render_instructions`), never read as
script lines: a reference such as ``[contact.first_name]`` is replaced inside its line, after the lines were split.

* ``Greeting: Hello Ada, this is Sam from Sunny Solar.`` — said first (default: "Hello, this is an
  automated call.").
* ``Question: Would you like a free quote?`` — asked in order, one per line; the **first** question is the
  qualifying one: its yes/no decides interested or not interested (default question: "Would you be
  interested in hearing more?").
* ``Question (field_name): How many panels do you need?`` — the answer fills the outcome tool's property
  ``field_name`` (typed by the tool's JSON schema: boolean from yes/no, integer/number from the first number
  heard, date from a named day, string as heard).
* Replies, all optional: ``Closing:`` (after the last question, when the caller said yes), ``Goodbye:`` (when
  the call ends with nothing agreed: a goodbye, words not understood; default "Thank you for your time.
  Goodbye."), ``Not interested reply:``,
  ``Callback reply:`` (``{day}`` is replaced by the day named, e.g. "on Friday, November 27"),
  ``Opt-out reply:``, ``Opt-out confirmation:`` (asked when an answer may be an opt-out), ``Transfer reply:``,
  ``Reprompt:`` (when an answer was not understood),
  ``Identity:`` (the answer to "who is this?" / "how did you get my number?"; default: the greeting).

Flow: the first ``response.create`` speaks the greeting and the first question. Each caller turn is
classified (:mod:`media.speech.intents`): an opt-out (at any time, even after the call was wrapped up),
a call back, a request for a person, or a "no"/"not interested" to the first question ends the script.
Wording that may be an opt-out but may as well be a goodbye, a question or a misheard phrase is confirmed
first ("Just to confirm: you want us to stop calling you?"): a yes records the opt-out, anything else does
not (the question is asked again, or a call back, transfer or refusal in the answer is taken as such);
otherwise the next question is asked, and after the last one the call closes as interested. An answer that
is not understood is asked again once (first question only); so is a yes, a no or a turn not understood that
was spoken over a question before half of it was heard (`Dialogue.cut_off`). A caller who asks who is
calling or how we got the number is answered (``Identity:``) and asked the same question again, up to twice;
it never counts as a yes, so an objection cannot be recorded as interest. Ending means: say the reply and call the
outcome tool with the label mapped from the intent through the tool's ``enum``; when the client returns the
tool output and asks for a response, call ``end_call`` (or ``transfer_call`` for a transfer); after that,
responses are empty.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from local_agent.field_values import outcome_values, pick_label, spoken_day, typed_value
from media.bridge.prompts import read_contact_data
from media.speech.intents import (
    LEAVING,
    Intent,
    IntentResult,
    classify_readings,
    normalize_text,
)

DEFAULT_GREETING = "Hello, this is an automated call."
DEFAULT_QUESTION = "Would you be interested in hearing more?"
DEFAULT_CLOSING = "Thank you for your time. Goodbye."
DEFAULT_GOODBYE = "Thank you for your time. Goodbye."
DEFAULT_NOT_INTERESTED = "I understand. Thank you for your time. Goodbye."
DEFAULT_CALLBACK = "No problem, we will call you back {day}. Goodbye."
DEFAULT_OPT_OUT = "Understood. We will not call you again. Goodbye."
DEFAULT_TRANSFER = "Please hold while I transfer you."
DEFAULT_REPROMPT = "Sorry, I did not catch that."
DEFAULT_CONFIRM_OPT_OUT = "Just to confirm: you want us to stop calling you?"
DEFAULT_OPT_OUT_DECLINED = "Thank you, sorry about that."
STILL_THERE = "Are you still there?"

_LINE = re.compile(
    r"^\s*[-*]?\s*(?P<key>[A-Za-z][A-Za-z -]*?)\s*(?:\((?P<field>[a-z][a-z0-9_]*)\))?\s*:\s*(?P<text>\S.*)$"
)
_REPLY_KEYS = {
    "closing": "closing",
    "goodbye": "goodbye",
    "not interested reply": "not_interested",
    "callback reply": "callback",
    "call back reply": "callback",
    "opt-out reply": "opt_out",
    "opt out reply": "opt_out",
    "opt-out confirmation": "confirm_opt_out",
    "opt out confirmation": "confirm_opt_out",
    "transfer reply": "transfer",
    "reprompt": "reprompt",
    "identity": "identity",
}
_REFERENCE = re.compile(r"\[contact\.([A-Za-z_][A-Za-z0-9_.]*)\]")  # a placeholder, as render_instructions writes it
_OUTCOME_PARAM_NAMES = ("outcome", "label", "disposition", "result", "status")
_END_CALL_NAMES = ("end_call", "hang_up", "hangup", "end_conversation")
_MAX_REPROMPTS = 1
_MAX_CUT_OFF_REASKS = 2  # a question said again because the caller spoke over it
# Answers that only mean something to a question heard.
_NEEDS_THE_QUESTION = frozenset({Intent.YES, Intent.NO, Intent.INTERESTED, Intent.UNKNOWN})
_MAX_QUESTIONS_ANSWERED = 2


@dataclass(frozen=True)
class Question:
    """One scripted question and the outcome property its answer fills (if any)."""

    text: str
    field: str | None = None


@dataclass(frozen=True)
class Script:
    """What the agent says, parsed from the instructions."""

    greeting: str = DEFAULT_GREETING
    questions: tuple[Question, ...] = (Question(DEFAULT_QUESTION),)
    closing: str = DEFAULT_CLOSING
    goodbye: str = DEFAULT_GOODBYE
    not_interested: str = DEFAULT_NOT_INTERESTED
    callback: str = DEFAULT_CALLBACK
    opt_out: str = DEFAULT_OPT_OUT
    confirm_opt_out: str = DEFAULT_CONFIRM_OPT_OUT
    transfer: str = DEFAULT_TRANSFER
    reprompt: str = DEFAULT_REPROMPT
    identity: str = ""

    def phrases(self) -> list[str]:
        """Words a caller may echo back (fed to the recogniser's language model)."""
        return [q.text for q in self.questions]


def parse_script(instructions: str) -> Script:
    """Read the script lines out of the session instructions (see the module docstring).

    Args:
        instructions: the rendered prompt.

    Returns:
        The script, with defaults for what the instructions leave out.
    """
    greeting: str | None = None
    questions: list[Question] = []
    replies: dict[str, str] = {}
    head, data = read_contact_data(instructions)  # F13: values only fill references inside a line
    for line in head.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        key = " ".join(match.group("key").lower().split())
        text = _REFERENCE.sub(lambda m: data.get(m.group(1), ""), match.group("text")).strip()
        if key == "greeting":
            greeting = text
        elif key == "question":
            questions.append(Question(text, match.group("field")))
        elif key in _REPLY_KEYS:
            replies[_REPLY_KEYS[key]] = text
    return Script(
        greeting=greeting or DEFAULT_GREETING,
        questions=tuple(questions) or (Question(DEFAULT_QUESTION),),
        **replies,
    )


@dataclass(frozen=True)
class OutcomeTool:
    """The function that records the call's outcome, as declared by the client.

    Attributes:
        name: function name (e.g. ``record_outcome``).
        label_param: the property holding the label (e.g. ``outcome``).
        labels: the label enum.
        properties: the other properties (name -> JSON schema), where field values go.
        container: when the fields sit in a nested object property, its name.
    """

    name: str
    label_param: str
    labels: tuple[str, ...]
    properties: dict[str, dict[str, Any]]
    container: str | None = None


@dataclass(frozen=True)
class ToolSet:
    """The tools of a session, by role."""

    outcome: OutcomeTool | None = None
    end_call: str | None = None
    end_call_has_reason: bool = False
    transfer_call: str | None = None

    @classmethod
    def from_tools(cls, tools: Sequence[dict[str, Any]]) -> ToolSet:
        """Find the outcome, end-call and transfer functions among the session's tools."""
        outcome: OutcomeTool | None = None
        end_call: str | None = None
        end_reason = False
        transfer: str | None = None
        for tool in tools:
            if tool.get("type", "function") != "function" or not isinstance(tool.get("name"), str):
                continue
            name = tool["name"]
            props = (tool.get("parameters") or {}).get("properties") or {}
            if name.lower() in _END_CALL_NAMES:
                end_call, end_reason = name, "reason" in props
            elif name.lower().startswith("transfer"):
                transfer = name
            elif outcome is None:
                outcome = _outcome_tool(name, props)
        return cls(outcome=outcome, end_call=end_call, end_call_has_reason=end_reason, transfer_call=transfer)


def _outcome_tool(name: str, props: dict[str, Any]) -> OutcomeTool | None:
    enum_props = [k for k, v in props.items() if isinstance(v, dict) and isinstance(v.get("enum"), list)]
    if not enum_props:
        return None
    label_param = next((k for k in _OUTCOME_PARAM_NAMES if k in enum_props), enum_props[0])
    labels = tuple(str(x) for x in props[label_param]["enum"])
    rest = {k: v for k, v in props.items() if k != label_param and isinstance(v, dict)}
    container = None
    nested = [k for k, v in rest.items() if v.get("type") == "object" and isinstance(v.get("properties"), dict)]
    if len(rest) == 1 and nested:
        container = nested[0]
        rest = dict(rest[container]["properties"])
    return OutcomeTool(name=name, label_param=label_param, labels=labels, properties=rest, container=container)


@dataclass(frozen=True)
class Say:
    """Speak this text."""

    text: str


@dataclass(frozen=True)
class Call:
    """Call this function with these arguments."""

    name: str
    arguments: dict[str, Any]


Action = Say | Call


class Stage(StrEnum):
    """Where the conversation is."""

    NOT_STARTED = "not_started"
    ASKING = "asking"
    RECORDING = "recording"  # the outcome call is out, waiting for its output
    ENDING = "ending"  # end_call / transfer_call is out
    DONE = "done"


@dataclass
class Dialogue:
    """The state of one conversation; pure logic, no I/O.

    Args:
        script: what to say.
        tools: the session's tools.
        today: reference date for named days.
    """

    script: Script
    tools: ToolSet
    today: dt.date = field(default_factory=lambda: dt.datetime.now(dt.UTC).date())
    stage: Stage = Stage.NOT_STARTED
    question_index: int = 0
    answers: list[str] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    outcome_label: str | None = None
    final_intent: Intent | None = None
    _pending: list[str] = field(default_factory=list)
    # The same turns read from the whole turn, pauses included (`Transcription.whole_turn_text`); None once a
    # typed turn (one reading only) is among them.
    _pending_whole: list[str] | None = field(default_factory=list)
    _heard: str = ""  # the turns being answered now
    _heard_whole: str | None = None
    _tool_outputs: list[str] = field(default_factory=list)
    _reprompts: int = 0
    _opt_out_asked: str | None = None  # what the caller said when the agent asked to confirm an opt-out
    _questions_answered: int = 0
    _question_unheard: bool = False  # the caller spoke over the question before hearing half of it
    _cut_off_reasks: int = 0

    def user_said(self, text: str, whole_turn_text: str | None = None) -> None:
        """Record a caller turn (transcript or typed text) for the next response.

        Args:
            text: the words.
            whole_turn_text: the recogniser's reading of the whole turn, pauses included, when it made one: an
                opt-out is taken at once only when both readings hold one, or the speech reading a whole request
                (`classify_readings`).
        """
        if not text.strip():
            return
        self._pending.append(text.strip())
        if whole_turn_text is None:
            self._pending_whole = None
        elif self._pending_whole is not None:
            self._pending_whole.append(whole_turn_text.strip())

    def _classify(self, heard: str) -> IntentResult:
        """The intent of ``heard``, with the whole-turn reading when ``heard`` is the turn being answered."""
        whole = self._heard_whole if heard == self._heard else None
        return classify_readings(heard, whole, self.today)

    def cut_off(self, said: str, heard: str) -> None:
        """Record that the caller heard only ``heard`` of what the agent ``said`` (they spoke over it).

        Why: a caller who speaks over the greeting ("Hello?") has not heard the question yet, so their turn is
        not an answer to it; read as one, a "Hello?" misheard as "no" closed the call as not interested.
        """
        if self.stage is not Stage.ASKING:
            return
        question = self._question().text.split()
        if not question or said.split()[-len(question):] != question:
            return
        unheard = len(said.split()) - len(heard.split())
        # Only ever raised here (consumed by the next response): a cancelled response reports what was sent, the
        # client's truncate what was played, in either order; the smaller one holds.
        self._question_unheard = self._question_unheard or unheard > len(question) / 2

    def tool_output(self, name: str) -> None:
        """Record that the client returned the output of function ``name``."""
        self._tool_outputs.append(name)

    def update(self, script: Script, tools: ToolSet) -> None:
        """Apply a ``session.update`` (new instructions or tools) without losing progress."""
        self.script = script
        self.tools = tools
        self.question_index = min(self.question_index, len(script.questions) - 1)

    def next_response(self) -> list[Action]:
        """What the agent does in its next response."""
        heard = " ".join(self._pending)
        self._pending.clear()
        self._heard = heard
        self._heard_whole = " ".join(self._pending_whole) if self._pending_whole is not None else None
        self._pending_whole = []
        outputs, self._tool_outputs = self._tool_outputs, []
        unheard, self._question_unheard = self._question_unheard, False
        if heard and self._opt_out_asked is not None:
            confirmed = self._confirmation(heard)
            if confirmed is not None:
                return confirmed
            heard = ""  # not an opt-out, and the call is already wrapped up: carry on ending it
        wrapped_up = self.stage in (Stage.RECORDING, Stage.ENDING, Stage.DONE)
        if heard and wrapped_up and self.final_intent is not Intent.OPT_OUT:
            # Compliance: an opt-out heard after wrap-up must still be recorded (TCPA do-not-call).
            result = self._classify(heard)
            if result.intent is Intent.OPT_OUT:
                self.answers.append(heard)
                return self._finish(result)
            if result.intent is Intent.MAYBE_OPT_OUT:
                self._tool_outputs[:0] = outputs  # still owed the hang-up they lead to, after the answer
                return self._ask_opt_out(heard)
        if self.stage is Stage.NOT_STARTED:
            self.stage = Stage.ASKING
            return [Say(f"{self.script.greeting} {self.script.questions[0].text}")]
        if self.stage is Stage.ASKING:
            if not heard:
                return [Say(f"{STILL_THERE} {self._question().text}")]
            return self._answer(heard, question_heard=not unheard)
        if self.stage is Stage.RECORDING and self.tools.outcome and self.tools.outcome.name in outputs:
            return self._hang_up()
        if self.stage is Stage.ENDING and outputs:
            self.stage = Stage.DONE
        return []

    def _question(self) -> Question:
        return self.script.questions[self.question_index]

    def _answer(self, heard: str, *, question_heard: bool = True) -> list[Action]:
        result = self._classify(heard)
        intent = result.intent
        first = self.question_index == 0
        leaving = intent is Intent.UNKNOWN and LEAVING.search(normalize_text(heard)) is not None
        if not question_heard and intent in _NEEDS_THE_QUESTION and not leaving:
            # Not an answer to a question the caller has not heard: say it again (an opt-out, a call back, a
            # refusal, a goodbye or a question of theirs stands whatever they heard). Past the re-asks, a yes or a
            # no to an unheard question is still no answer: never interest, never a refusal.
            if self._cut_off_reasks < _MAX_CUT_OFF_REASKS:
                self._cut_off_reasks += 1
                return [Say(f"{self.script.greeting} {self._question().text}" if first else self._question().text)]
            intent = Intent.UNKNOWN
            result = IntentResult(Intent.UNKNOWN)
        if intent is Intent.TRANSFER and self.tools.transfer_call is None:
            intent = Intent.UNKNOWN  # nobody to transfer to: treat it as not understood
        if intent is Intent.MAYBE_OPT_OUT:
            return self._ask_opt_out(heard)
        if intent is Intent.QUESTION:
            self.answers.append(heard)
            if self._questions_answered < _MAX_QUESTIONS_ANSWERED:
                # Who is calling and why, then the same question again: the caller has not answered it yet.
                self._questions_answered += 1
                return [Say(f"{self.script.identity or self.script.greeting} {self._question().text}")]
            return self._finish(IntentResult(Intent.UNKNOWN))
        if intent in (Intent.OPT_OUT, Intent.CALL_BACK, Intent.TRANSFER, Intent.NOT_INTERESTED) or (
            first and intent is Intent.NO
        ):
            self.answers.append(heard)
            return self._finish(IntentResult(intent, result.day))
        if intent is Intent.UNKNOWN and LEAVING.search(normalize_text(heard)):
            # The caller is saying goodbye: asking again would talk to a closed line. Recorded as unknown
            # (never as interest: nothing was agreed to).
            self.answers.append(heard)
            return self._finish(IntentResult(Intent.UNKNOWN))
        if first and intent is Intent.UNKNOWN and self._reprompts < _MAX_REPROMPTS:
            self._reprompts += 1
            return [Say(f"{self.script.reprompt} {self._question().text}")]
        self.answers.append(heard)
        self._fill_question_field(self._question(), heard, result)
        if first:
            self.final_intent = Intent.INTERESTED if intent in (Intent.YES, Intent.INTERESTED) else Intent.UNKNOWN
        if self.question_index + 1 < len(self.script.questions):
            self.question_index += 1
            return [Say(self._question().text)]
        return self._finish(IntentResult(self.final_intent or Intent.UNKNOWN))

    def _ask_opt_out(self, heard: str) -> list[Action]:
        """Ask before recording an opt-out the caller may not have meant (a false one is never undone)."""
        self._opt_out_asked = heard
        return [Say(self.script.confirm_opt_out)]

    def _confirmation(self, heard: str) -> list[Action] | None:
        """The caller's answer to the opt-out question; None when there is nothing to say (after wrap-up)."""
        asked, self._opt_out_asked = self._opt_out_asked, None
        result = self._classify(heard)
        if result.intent in (Intent.YES, Intent.OPT_OUT, Intent.MAYBE_OPT_OUT):
            # Compliance (TCPA do-not-call): confirmed, so it is recorded, even after the call was wrapped up.
            self.answers += [a for a in (asked, heard) if a]
            return self._finish(IntentResult(Intent.OPT_OUT))
        if self.stage is not Stage.ASKING:
            return None
        if result.intent in (Intent.CALL_BACK, Intent.TRANSFER, Intent.NOT_INTERESTED):
            return self._answer(heard)  # "no, call me tomorrow": an answer of its own
        # "No", a question, or words not understood: not an opt-out; the script goes on where it was.
        return [Say(f"{DEFAULT_OPT_OUT_DECLINED} {self._question().text}")]

    def _finish(self, result: IntentResult) -> list[Action]:
        intent = result.intent
        self.final_intent = intent
        reply = {
            Intent.OPT_OUT: self.script.opt_out,
            Intent.CALL_BACK: self.script.callback.replace("{day}", spoken_day(result.day)),
            Intent.TRANSFER: self.script.transfer,
            Intent.NOT_INTERESTED: self.script.not_interested,
            Intent.NO: self.script.not_interested,
        }.get(intent)
        if reply is None:
            # The closing thanks a caller who agreed ("a colleague will send you the details"): said to one who
            # only said goodbye or was not understood, it would promise what nobody asked for.
            agreed = intent in (Intent.INTERESTED, Intent.YES)
            reply = self.script.closing if agreed else self.script.goodbye
        actions: list[Action] = [Say(reply)]
        tool = self.tools.outcome
        if tool is None:
            actions += self._hang_up()
            return actions
        label = pick_label(intent, tool.labels)
        self.outcome_label = label
        values = outcome_values(tool.properties, self.fields, result.day, self.answers)
        arguments: dict[str, Any] = {tool.label_param: label}
        if tool.container:
            arguments[tool.container] = values
        else:
            arguments.update(values)
        self.stage = Stage.RECORDING
        actions.append(Call(tool.name, arguments))
        return actions

    def _hang_up(self) -> list[Action]:
        if self.final_intent is Intent.TRANSFER and self.tools.transfer_call:
            self.stage = Stage.ENDING
            return [Call(self.tools.transfer_call, {})]
        if self.tools.end_call:
            self.stage = Stage.ENDING
            args = {"reason": self.outcome_label or str(self.final_intent)} if self.tools.end_call_has_reason else {}
            return [Call(self.tools.end_call, args)]
        self.stage = Stage.DONE
        return []

    def _fill_question_field(self, question: Question, heard: str, result: IntentResult) -> None:
        tool = self.tools.outcome
        if not question.field or tool is None or question.field not in tool.properties:
            return
        value = typed_value(tool.properties[question.field], heard, result, self.today)
        if value is not None:
            self.fields[question.field] = value
