"""Intents, spoken days, label mapping, and the scripted dialogue of the local agent."""

from __future__ import annotations

import datetime as dt

import pytest

from local_agent.script import Call, Dialogue, Say, Stage, ToolSet, parse_script
from media.speech.intents import Intent, IntentResult, classify, classify_readings, label_for_intent, parse_day

WEDNESDAY = dt.date(2026, 11, 25)
LABELS = ["interested", "not_interested", "callback", "opted_out", "unknown"]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("yes I am interested", Intent.INTERESTED),
        ("Yeah, sure.", Intent.YES),
        ("no", Intent.NO),
        ("No, I'm not interested.", Intent.NOT_INTERESTED),
        ("no i am interested", Intent.NOT_INTERESTED),  # a leading "no" wins over a misheard "not"
        ("no thank you", Intent.NOT_INTERESTED),
        ("please stop calling me", Intent.OPT_OUT),
        ("Remove me from your list!", Intent.OPT_OUT),
        ("don't call me again", Intent.OPT_OUT),
        ("do not call", Intent.MAYBE_OPT_OUT),  # asked about before it is recorded
        ("yes, stop calling me", Intent.OPT_OUT),  # opt-out outranks everything
        ("calling me again", Intent.MAYBE_OPT_OUT),  # "stop" lost by the recogniser: asked about
        # questions and misheard words are not opt-outs: a false one takes the number off every campaign
        ("why are you calling me", Intent.QUESTION),
        ("who is calling me", Intent.QUESTION),
        ("sorry who is this how did you get my number", Intent.QUESTION),
        ("what is this about", Intent.QUESTION),
        ("please do", Intent.YES),
        ("please do this about list", Intent.UNKNOWN),
        ("call me back tomorrow", Intent.CALL_BACK),
        ("I'm busy right now", Intent.CALL_BACK),
        ("maybe next week", Intent.CALL_BACK),
        ("can I speak to a real person", Intent.TRANSFER),
        ("yes i do not mind", Intent.YES),
        ("no i do", Intent.NO),
        ("I don't know", Intent.UNKNOWN),
        ("I'm not sure", Intent.UNKNOWN),
        ("", Intent.UNKNOWN),
    ],
)
def test_classify(text: str, intent: Intent) -> None:
    assert classify(text, WEDNESDAY).intent is intent


def test_a_misheard_mention_of_a_list_is_not_an_opt_out() -> None:
    # "Sorry, who is this? How did you get my number?" as the recogniser once heard it
    assert classify("please do this about your list list", WEDNESDAY).intent is not Intent.OPT_OUT


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("call me back tomorrow", dt.date(2026, 11, 26)),
        ("the day after tomorrow", dt.date(2026, 11, 27)),
        ("on friday please", dt.date(2026, 11, 27)),
        ("on wednesday", dt.date(2026, 12, 2)),  # today's weekday means next week
        ("next week", dt.date(2026, 11, 30)),
        ("in two days", dt.date(2026, 11, 27)),
        ("in a couple of weeks", dt.date(2026, 12, 9)),
        ("later today", WEDNESDAY),
        ("whenever", None),
    ],
)
def test_parse_day(text: str, day: dt.date | None) -> None:
    assert parse_day(text, WEDNESDAY) == day


def test_call_back_carries_the_day() -> None:
    result = classify("call me back on Friday", WEDNESDAY)
    assert result.intent is Intent.CALL_BACK
    assert result.day == dt.date(2026, 11, 27)


@pytest.mark.parametrize(
    ("intent", "labels", "label"),
    [
        (Intent.INTERESTED, LABELS, "interested"),
        (Intent.YES, LABELS, "interested"),
        (Intent.NO, LABELS, "not_interested"),
        (Intent.OPT_OUT, LABELS, "opted_out"),
        (Intent.CALL_BACK, LABELS, "callback"),
        (Intent.OPT_OUT, ["qualified", "declined", "do_not_call"], "do_not_call"),
        (Intent.YES, ["qualified", "declined", "do_not_call"], "qualified"),
        (Intent.NO, ["qualified", "declined", "do_not_call"], "declined"),
        (Intent.CALL_BACK, ["sale", "callback_requested", "no_sale"], "callback_requested"),
        (Intent.INTERESTED, ["not_interested", "very_interested"], "very_interested"),
        (Intent.INTERESTED, ["not_interested", "no_answer"], None),  # never the negated label
        (Intent.NO, ["interested", "no_answer"], None),  # a bare "no" does not pick "no_answer"
        (Intent.UNKNOWN, ["yes", "no", "other"], "other"),
    ],
)
def test_label_for_intent_uses_the_schema_labels(intent: Intent, labels: list[str], label: str | None) -> None:
    assert label_for_intent(intent, labels) == label


TOOLS = [
    {
        "type": "function",
        "name": "record_outcome",
        "parameters": {
            "type": "object",
            "properties": {
                "outcome": {"type": "string", "enum": LABELS},
                "callback_date": {"type": "string", "format": "date"},
                "panels": {"type": "integer"},
                "owns_home": {"type": "boolean"},
                "notes": {"type": "string"},
            },
            "required": ["outcome"],
        },
    },
    {
        "type": "function",
        "name": "end_call",
        "parameters": {"type": "object", "properties": {"reason": {"type": "string"}}},
    },
    {"type": "function", "name": "transfer_call", "parameters": {"type": "object", "properties": {}}},
]
INSTRUCTIONS = """You are Sam, calling for Sunny Solar. Be brief.
Greeting: Hello Ada, this is Sam from Sunny Solar.
Question: Would you like a free quote for solar panels?
- Question (owns_home): Do you own your home?
Question (panels): How many panels do you think you need?
Closing: Great, an adviser will be in touch. Goodbye.
"""


def _dialogue(instructions: str = INSTRUCTIONS) -> Dialogue:
    return Dialogue(parse_script(instructions), ToolSet.from_tools(TOOLS), today=WEDNESDAY)


def test_parse_script_reads_the_convention() -> None:
    script = parse_script(INSTRUCTIONS)
    assert script.greeting == "Hello Ada, this is Sam from Sunny Solar."
    assert [(q.text, q.field) for q in script.questions] == [
        ("Would you like a free quote for solar panels?", None),
        ("Do you own your home?", "owns_home"),
        ("How many panels do you think you need?", "panels"),
    ]
    assert script.closing == "Great, an adviser will be in touch. Goodbye."


def test_parse_script_defaults_without_script_lines() -> None:
    script = parse_script("Be polite and brief.")
    assert script.greeting.startswith("Hello")
    assert len(script.questions) == 1


def test_tool_roles_are_found() -> None:
    tools = ToolSet.from_tools(TOOLS)
    assert tools.outcome is not None
    assert (tools.outcome.name, tools.outcome.label_param, tools.outcome.labels) == (
        "record_outcome",
        "outcome",
        tuple(LABELS),
    )
    assert (tools.end_call, tools.end_call_has_reason, tools.transfer_call) == ("end_call", True, "transfer_call")


def test_interested_caller_answers_every_question_then_the_outcome_and_hang_up() -> None:
    d = _dialogue()
    assert d.next_response() == [
        Say("Hello Ada, this is Sam from Sunny Solar. Would you like a free quote for solar panels?")
    ]
    d.user_said("yes I am interested")
    assert d.next_response() == [Say("Do you own your home?")]
    d.user_said("yes I do")
    assert d.next_response() == [Say("How many panels do you think you need?")]
    d.user_said("maybe twelve")
    actions = d.next_response()
    assert actions[0] == Say("Great, an adviser will be in touch. Goodbye.")
    assert actions[1] == Call(
        "record_outcome",
        {
            "outcome": "interested",
            "owns_home": True,
            "panels": 12,
            "notes": "yes I am interested; yes I do; maybe twelve",
        },
    )
    d.tool_output("record_outcome")
    assert d.next_response() == [Call("end_call", {"reason": "interested"})]
    d.tool_output("end_call")
    assert d.next_response() == []
    assert d.stage is Stage.DONE


def test_no_to_the_first_question_is_not_interested() -> None:
    d = _dialogue()
    d.next_response()
    d.user_said("no")
    actions = d.next_response()
    assert isinstance(actions[1], Call)
    assert actions[1].arguments["outcome"] == "not_interested"


def test_an_answer_spoken_over_a_question_not_yet_heard_gets_the_question_again() -> None:
    # given a caller who spoke over the greeting before any of the question reached them ("Hello?" heard as "no")
    d = _dialogue()
    [greeting] = d.next_response()
    assert isinstance(greeting, Say)
    d.cut_off(greeting.text, "")
    d.user_said("no")
    # then the agent says its greeting and question again, and records nothing
    assert d.next_response() == [greeting]
    # and once the question was heard, a question of theirs is answered and their "no" is an answer
    d.user_said("who is this")
    assert d.next_response() == [Say(f"{greeting.text}")]
    d.user_said("no")
    actions = d.next_response()
    assert isinstance(actions[1], Call)
    assert actions[1].arguments["outcome"] == "not_interested"


def test_a_caller_who_keeps_speaking_over_the_question_is_never_taken_to_answer_it() -> None:
    d = _dialogue()
    [greeting] = d.next_response()
    assert isinstance(greeting, Say)
    for _ in range(2):  # asked again twice
        d.cut_off(greeting.text, "")
        d.user_said("yes hello")
        assert d.next_response() == [greeting]
    # then a third "yes" over the unheard question is no answer: not recorded as interest
    d.cut_off(greeting.text, "hello")
    d.user_said("yes hello")
    d.next_response()
    assert d.final_intent is not Intent.INTERESTED
    assert "yes hello" not in d.fields.values()


def test_what_was_sent_and_what_was_played_the_smaller_holds() -> None:
    # given a cancelled response that sent the whole question, and the client's truncate at its first word
    d = _dialogue()
    [greeting] = d.next_response()
    assert isinstance(greeting, Say)
    d.cut_off(greeting.text, "")
    d.cut_off(greeting.text, greeting.text)
    d.user_said("no")
    # then the question counts as unheard
    assert d.next_response() == [greeting]


def test_a_goodbye_over_the_greeting_ends_the_call() -> None:
    d = _dialogue()
    [greeting] = d.next_response()
    assert isinstance(greeting, Say)
    d.cut_off(greeting.text, "")
    d.user_said("goodbye")
    actions = d.next_response()
    assert any(isinstance(a, Call) for a in actions), actions


def test_an_answer_over_the_end_of_a_question_is_an_answer() -> None:
    # given a caller who heard most of the question and says "no" over its last words
    d = _dialogue()
    [greeting] = d.next_response()
    assert isinstance(greeting, Say)
    d.cut_off(greeting.text, " ".join(greeting.text.split()[:-2]))
    d.user_said("no")
    # then it is their answer
    actions = d.next_response()
    assert isinstance(actions[1], Call)
    assert actions[1].arguments["outcome"] == "not_interested"


def test_an_opt_out_spoken_over_the_greeting_stands() -> None:
    d = _dialogue()
    [greeting] = d.next_response()
    assert isinstance(greeting, Say)
    d.cut_off(greeting.text, "")
    d.user_said("please stop calling me")
    actions = d.next_response()
    assert isinstance(actions[1], Call)
    assert actions[1].arguments["outcome"] == "opted_out"


def test_opt_out_at_any_question_records_opted_out_and_ends() -> None:
    d = _dialogue()
    d.next_response()
    d.user_said("yes")
    d.next_response()
    d.user_said("please stop calling me")
    actions = d.next_response()
    assert actions == [
        Say("Understood. We will not call you again. Goodbye."),
        Call("record_outcome", {"outcome": "opted_out", "notes": "yes; please stop calling me"}),
    ]
    d.tool_output("record_outcome")
    assert d.next_response() == [Call("end_call", {"reason": "opted_out"})]


def test_opt_out_after_wrap_up_is_still_recorded() -> None:
    # given a call already closed as interested
    d = _dialogue("Question: Interested?")
    d.next_response()
    d.user_said("yes")
    d.next_response()
    # when the caller says "remove me" before the hang-up
    d.user_said("actually remove me from your list")
    actions = d.next_response()
    # then the outcome is recorded again, as an opt-out
    assert isinstance(actions[-1], Call)
    assert actions[-1].arguments["outcome"] == "opted_out"


@pytest.mark.parametrize(
    ("text", "whole", "intent"),
    [
        # both readings hold an opt-out: recorded at once
        ("please stop calling me", "please stop calling me for", Intent.OPT_OUT),
        ("stop calling me put me on your do not call list", "phone calling me on your do not call later",
         Intent.OPT_OUT),
        # the speech reading holds the whole request (stop, the list, do not call): recorded even when the whole
        # turn misread it (a person who has said it all may hang up when asked again)
        ("stop calling me phoning on your do not call list", "phone calling week put on your do not call later",
         Intent.OPT_OUT),
        # three cues in a caller who asks to be kept: asked about, never recorded on one reading
        ("please do not remove me from your list keep calling me", "okay sounds good", Intent.MAYBE_OPT_OUT),
        ("i am not on any do not call list so keep calling me", "okay sounds good", Intent.MAYBE_OPT_OUT),
        # only one reading does: asked about first (a false opt-out takes the number off every campaign)
        ("no i off your do not call list", "your delete good off your phone", Intent.MAYBE_OPT_OUT),
        ("okay that sounds good to me", "okay that don't phone me for", Intent.MAYBE_OPT_OUT),
        # otherwise the speech reading decides
        ("yes i am interested more", "yes i would more for", Intent.INTERESTED),
        ("no thank you what is this", "no thank you what is this for", Intent.NOT_INTERESTED),
        # a typed turn has one reading only
        ("please stop calling me", None, Intent.OPT_OUT),
    ],
)
def test_an_answer_read_twice_is_an_opt_out_at_once_only_when_both_readings_hold_one(
        text: str, whole: str | None, intent: Intent) -> None:
    assert classify_readings(text, whole, WEDNESDAY).intent is intent


def test_the_speech_reading_keeps_its_call_back_day() -> None:
    assert classify_readings("call me back tomorrow", "call me let tomorrow for", WEDNESDAY) == IntentResult(
        Intent.CALL_BACK, WEDNESDAY + dt.timedelta(days=1))


def test_an_opt_out_in_one_reading_after_wrap_up_is_asked_about_not_recorded() -> None:
    # given a call closed as interested, and the caller's "That sounds good. Please sign me up." read once as an
    # opt-out (as the demo's interested person was heard: docs/testing.md)
    d = _dialogue("Question: Interested?")
    d.next_response()
    d.user_said("yes i am interested more", "yes i would more for")
    d.next_response()
    d.user_said("that sounds good free friday off", "phone don't phone me friday off")
    # then the agent asks before it records anything
    assert d.next_response() == [Say(CONFIRM)]
    # and a caller who hangs up without confirming keeps the outcome they agreed to
    assert d.outcome_label == "interested"


CONFIRM = "Just to confirm: you want us to stop calling you?"


def test_a_goodbye_heard_as_remove_me_is_asked_about_and_not_recorded() -> None:
    # given the first question asked
    d = _dialogue()
    d.next_response()
    # when the recogniser makes "Who is this? Sorry, I have to go. Goodbye." into opt-out words
    d.user_said("remove me from week i am from your goodbye")
    # then the agent asks instead of recording an opt-out
    assert d.next_response() == [Say(CONFIRM)]
    # and a "no" leaves the caller on the list: the script goes on where it was
    d.user_said("no")
    assert d.next_response() == [Say("Thank you, sorry about that. Would you like a free quote for solar panels?")]
    assert d.final_intent is not Intent.OPT_OUT
    assert d.stage is Stage.ASKING


def test_a_confirmed_opt_out_is_recorded() -> None:
    d = _dialogue()
    d.next_response()
    d.user_said("remove me")
    assert d.next_response() == [Say(CONFIRM)]
    d.user_said("yes")
    assert d.next_response() == [
        Say("Understood. We will not call you again. Goodbye."),
        Call("record_outcome", {"outcome": "opted_out", "notes": "remove me; yes"}),
    ]


def test_silence_or_a_question_after_the_opt_out_question_is_no_opt_out() -> None:
    d = _dialogue()
    d.next_response()
    d.user_said("leave me alone")
    d.next_response()
    d.user_said("who is this")
    actions = d.next_response()
    assert all(not isinstance(a, Call) for a in actions)
    assert d.final_intent is None


def test_a_call_back_in_answer_to_the_opt_out_question_is_a_call_back() -> None:
    d = _dialogue()
    d.next_response()
    d.user_said("do not call")
    d.next_response()
    d.user_said("no, call me back tomorrow")
    actions = d.next_response()
    assert isinstance(actions[-1], Call)
    assert actions[-1].arguments["outcome"] == "callback"


def test_an_unambiguous_opt_out_is_recorded_without_asking() -> None:
    d = _dialogue()
    d.next_response()
    d.user_said("Stop calling me. Put me on your do not call list.")
    actions = d.next_response()
    assert actions[0] == Say("Understood. We will not call you again. Goodbye.")
    assert isinstance(actions[1], Call)
    assert actions[1].arguments["outcome"] == "opted_out"


def test_after_wrap_up_a_possible_opt_out_is_asked_about_and_a_no_still_hangs_up() -> None:
    # given a call closed as interested, its outcome recorded
    d = _dialogue("Question: Interested?")
    d.next_response()
    d.user_said("yes")
    d.next_response()
    d.tool_output("record_outcome")
    # when the caller says something that may be an opt-out before the hang-up
    d.user_said("why do you keep calling me")
    assert d.next_response() == [Say(CONFIRM)]
    # then a "no" records nothing new and the call ends as planned
    d.user_said("no")
    assert d.next_response() == [Call("end_call", {"reason": "interested"})]


def test_after_wrap_up_a_confirmed_opt_out_is_still_recorded() -> None:
    d = _dialogue("Question: Interested?")
    d.next_response()
    d.user_said("yes")
    d.next_response()
    d.user_said("calling me again")
    assert d.next_response() == [Say(CONFIRM)]
    d.user_said("yes please")
    actions = d.next_response()
    assert isinstance(actions[-1], Call)
    assert actions[-1].arguments["outcome"] == "opted_out"


def test_the_script_may_word_the_opt_out_question() -> None:
    d = _dialogue(INSTRUCTIONS + "Opt-out confirmation: Shall we take your number off our list?\n")
    d.next_response()
    d.user_said("remove me")
    assert d.next_response() == [Say("Shall we take your number off our list?")]


def test_call_back_fills_the_date_field() -> None:
    d = _dialogue()
    d.next_response()
    d.user_said("call me back tomorrow")
    actions = d.next_response()
    assert actions[0] == Say("No problem, we will call you back on Thursday, November 26. Goodbye.")
    assert actions[1] == Call(
        "record_outcome", {"outcome": "callback", "callback_date": "2026-11-26", "notes": "call me back tomorrow"}
    )


def test_unclear_answer_is_asked_again_once_then_unknown() -> None:
    d = _dialogue("Question: Would you like a quote?")
    d.next_response()
    d.user_said("the weather")
    assert d.next_response() == [Say("Sorry, I did not catch that. Would you like a quote?")]
    d.user_said("hmm")
    actions = d.next_response()
    assert isinstance(actions[-1], Call)
    assert actions[-1].arguments["outcome"] == "unknown"


def test_request_for_a_person_transfers_after_the_outcome() -> None:
    d = _dialogue()
    d.next_response()
    d.user_said("can I talk to a real person")
    actions = d.next_response()
    assert actions[0] == Say("Please hold while I transfer you.")
    d.tool_output("record_outcome")
    assert d.next_response() == [Call("transfer_call", {})]


def test_silence_prompts_again() -> None:
    d = _dialogue()
    d.next_response()
    assert d.next_response() == [Say("Are you still there? Would you like a free quote for solar panels?")]


def test_without_an_outcome_tool_the_agent_just_says_goodbye() -> None:
    d = Dialogue(parse_script(""), ToolSet.from_tools([]), today=WEDNESDAY)
    d.next_response()
    d.user_said("no thanks")
    assert d.next_response() == [Say("I understand. Thank you for your time. Goodbye.")]
    assert d.stage is Stage.DONE


def test_a_caller_who_asks_who_is_calling_is_answered_and_asked_again() -> None:
    # given the demo's interrupter: "Sorry, who is this? How did you get my number?" then "not interested"
    d = _dialogue("Greeting: Hello, this is Sam from Sunny Solar.\nQuestion: Would you like a free quote?\n"
                  "Identity: This is Sam from Sunny Solar; you are on our customer list.")
    d.next_response()
    d.user_said("Sorry, who is this? How did you get my number?")
    # then the agent says who it is and asks the same question again, recording nothing yet
    assert d.next_response() == [
        Say("This is Sam from Sunny Solar; you are on our customer list. Would you like a free quote?")]
    d.user_said("Fine, but I am not interested. Goodbye.")
    actions = d.next_response()
    assert isinstance(actions[-1], Call)
    assert actions[-1].arguments["outcome"] == "not_interested"


def test_the_misheard_interruption_is_not_recorded_as_interest() -> None:
    # given the words the recogniser once made of the interruption (D6: it was recorded as "interested")
    d = _dialogue("Question: Would you like a free quote?")
    d.next_response()
    d.user_said("please do this about list")
    assert d.next_response() == [Say("Sorry, I did not catch that. Would you like a free quote?")]
    d.user_said("not interested goodbye")
    actions = d.next_response()
    assert isinstance(actions[-1], Call)
    assert actions[-1].arguments["outcome"] == "not_interested"


def test_questions_alone_never_make_a_conversion() -> None:
    d = _dialogue("Question: Would you like a free quote?")
    d.next_response()
    for _ in range(3):
        d.user_said("who is this")
        actions = d.next_response()
    assert isinstance(actions[-1], Call)
    assert actions[-1].arguments["outcome"] == "unknown"


def test_a_call_back_date_time_is_the_persons_wall_clock_time() -> None:
    # D5: an offset-less local time; the dialer reads it in the contact's zone (it was 10:00 UTC for everyone)
    tools = [{"type": "function", "name": "record_outcome", "parameters": {"type": "object", "properties": {
        "outcome": {"type": "string", "enum": LABELS}, "callback_at": {"type": "string", "format": "date-time"}}}}]
    d = Dialogue(parse_script("Question: Interested?"), ToolSet.from_tools(tools), today=WEDNESDAY)
    d.next_response()
    d.user_said("call me back tomorrow")
    actions = d.next_response()
    assert isinstance(actions[-1], Call)
    assert actions[-1].arguments["callback_at"] == "2026-11-26T10:00:00"


def test_a_caller_saying_goodbye_is_not_asked_again_nor_counted_interested() -> None:
    # the interrupter's "Fine, but I am not interested. Goodbye." as the recogniser heard it
    d = Dialogue(parse_script("Question: Still interested?"), ToolSet.from_tools([{
        "type": "function", "name": "record_outcome", "parameters": {"type": "object", "properties": {
            "outcome": {"type": "string", "enum": ["interested", "not_interested", "call_back", "opted_out"]}}}}]),
        today=WEDNESDAY)
    d.next_response()
    d.user_said("fine but i what is this goodbye")
    actions = d.next_response()
    # then the call is wrapped up at once, as not interested: never interested, never the last label (opted out)
    assert isinstance(actions[-1], Call)
    assert actions[-1].arguments["outcome"] == "not_interested"


def test_a_day_heard_in_a_goodbye_is_not_a_call_back() -> None:
    # "Fine, but I am not interested. Goodbye." as the recogniser heard it
    assert classify("friday list what is this goodbye", WEDNESDAY).intent is Intent.UNKNOWN
    assert classify("call me on friday goodbye", WEDNESDAY).intent is Intent.CALL_BACK


@pytest.mark.parametrize(
    ("heard", "reply"),
    [
        ("fine but i what is this goodbye", "Thank you for calling, goodbye."),  # nothing agreed: the goodbye
        ("yes i am interested", "Great, a colleague will be in touch."),  # agreed: the closing
    ],
)
def test_the_closing_is_said_only_to_a_caller_who_agreed(heard: str, reply: str) -> None:
    script = parse_script("Question: Still interested?\nClosing: Great, a colleague will be in touch.\n"
                          "Goodbye: Thank you for calling, goodbye.")
    d = Dialogue(script, ToolSet.from_tools([{
        "type": "function", "name": "record_outcome", "parameters": {"type": "object", "properties": {
            "outcome": {"type": "string", "enum": LABELS}}}}]), today=WEDNESDAY)
    d.next_response()
    d.user_said(heard)
    actions = d.next_response()
    assert isinstance(actions[0], Say)
    assert actions[0].text == reply


def test_the_default_goodbye_promises_nothing() -> None:
    assert parse_script("Question: Still interested?").goodbye == "Thank you for your time. Goodbye."


@pytest.mark.parametrize(
    ("text", "intent", "day"),
    [
        # a weekday inside a longer answer with nothing around it that schedules is a misheard word
        ("friday list that like for", Intent.UNKNOWN, None),
        ("friday list good like for", Intent.UNKNOWN, None),
        # asked for: a short answer, next to a scheduling word, or after "call me (back)"
        ("friday", Intent.CALL_BACK, dt.date(2026, 11, 27)),
        ("friday is fine", Intent.CALL_BACK, dt.date(2026, 11, 27)),
        ("friday afternoon would be better", Intent.CALL_BACK, dt.date(2026, 11, 27)),
        ("can you phone me on friday instead", Intent.CALL_BACK, dt.date(2026, 11, 27)),
        ("please call me back friday if you can", Intent.CALL_BACK, dt.date(2026, 11, 27)),
        ("how about friday then", Intent.CALL_BACK, dt.date(2026, 11, 27)),
        # other days always count
        ("i am busy right now from your call me back tomorrow", Intent.CALL_BACK, dt.date(2026, 11, 26)),
    ],
)
def test_a_weekday_counts_only_when_asked_for(text: str, intent: Intent, day: dt.date | None) -> None:
    result = classify(text, WEDNESDAY)
    assert (result.intent, result.day) == (intent, day)
