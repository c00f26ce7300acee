"""The SIP user-agent pool: pjsua2 processes that place the calls.

pjsua2 allows one Endpoint and at most four calls per process, so calls run in a supervised pool of worker
processes (`supervisor.py`), each owning one Endpoint on one dedicated thread (`endpoint.py`).
"""
