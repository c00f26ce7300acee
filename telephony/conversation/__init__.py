"""The campaign call's conversation, run by the UA pool for every answered attempt.

`plan` reads what a call does from its originate command; `controller` runs it (`CampaignCall`: AMD, then
the AI bridge or the machine policy); `machine` holds the machine policy and the late beep after an unknown
decision; `voicemail` waits for the beep; `opt_out` holds the do-not-call rules.
The UA worker installs `telephony.conversation.controller:campaign_call` unless told otherwise.
"""
