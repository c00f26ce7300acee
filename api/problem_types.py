"""The problem types of the API: ``/api/v1/problems/<slug>`` describes each one (RFC 9457 ``type`` URIs resolve)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, JsonResponse

# slug: (title, what a client does about it)
PROBLEM_TYPES: dict[str, tuple[str, str]] = {
    "unauthenticated": ("Authentication required", "Send a valid key as 'Authorization: Bearer <key>'."),
    "forbidden": ("Permission denied", "Ask for a key whose groups grant the permission named in the problem."),
    "rate-limited": ("Too many requests", "Wait Retry-After seconds; the limit is per key and minute."),
    "validation": ("Invalid request", "Fix the fields listed in errors (body.*, query.*, path.*)."),
    "bad-cursor": ("Invalid cursor", "Pass next_cursor from a previous page unchanged."),
    "not-found": ("Not found", "The object does not exist."),
    "http-error": ("Bad request", "The request could not be read (for example, a body that is not JSON)."),
    "idempotency-key-invalid": ("Invalid Idempotency-Key", "Use at most 255 characters."),
    "idempotency-key-reused": ("Idempotency-Key reused", "This key was used with another request: use a new key."),
    "too-large-for-idempotency": ("Body too large for an Idempotency-Key",
                                  "Send a large CSV upload without an Idempotency-Key."),
    "precondition-required": ("If-Match required", "Read the object and send its version as If-Match."),
    "version-mismatch": ("Changed since read", "Read it again (current_version) and re-apply the change."),
    "campaign-active": ("Campaign active", "Agent, trunk and caller IDs change only while the campaign is a draft."),
    "invalid-transition": ("Action not possible now", "The detail says the campaign's state."),
    "import-failed": ("Contacts not imported", "The detail says why the rows or the file could not be read."),
    "opt-out-kept": ("Opt-outs are kept", "A person's own opt-out cannot be removed through the API."),
    "campaign-not-running": ("Campaign not running", "Start or resume the campaign, then call again."),
    "do-not-call": ("On the do-not-call list", "This number may not be called."),
    "outside-calling-window": ("Outside the calling window", "Call again at retry_at (the window's next opening)."),
    "at-capacity": ("Campaign at capacity", "Call again after retry_after_s, when a call has ended."),
    "trunk-at-capacity": ("Trunk at capacity", "Call again after retry_after_s, when a channel is free."),
    "call-in-progress": ("A call is in progress", "Follow it with GET /api/v1/calls/{contact_id}."),
    "attempts-exhausted": ("Attempts exhausted", "The contact was called the campaign's maximum number of times."),
    "contact-needs-review": ("Contact not callable", "An operator decides about this contact first."),
    "cannot-start": ("Direct-calls campaign cannot start",
                     "Give the trunk an active caller ID (or enable it), then call again; the detail says which."),
}


def problem_type(request: HttpRequest, slug: str) -> JsonResponse:
    """The description of one problem type (public: no key needed)."""
    if slug not in PROBLEM_TYPES:
        raise Http404(slug)
    title, action = PROBLEM_TYPES[slug]
    return JsonResponse({"type": f"/api/v1/problems/{slug}", "title": title, "what_to_do": action})
