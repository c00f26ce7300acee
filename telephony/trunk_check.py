"""Check a trunk from the admin: SIP OPTIONS (and REGISTER when the trunk registers) through pjsua2.

pjsua2 allows one Endpoint per process and the web process must not host one, so the check runs in a short
child process (`python -m telephony.trunk_check`) using the same SIP stack, transports and digest code as the
calls. `check_trunk()` starts it and reads its JSON answer.

What the result means:
- reachable: the trunk answered OPTIONS with any SIP response (401, 403, 404, 405 all prove it is there).
- auth_ok: True when our credentials were accepted (REGISTER 2xx, or OPTIONS answered with something other
  than 401/407 after a challenge); False when the challenge was answered and refused; None when the trunk
  did not ask (IP-authenticated trunks, or an OPTIONS answered without a challenge).
- rtt_ms: time from sending OPTIONS to its final response (including a challenge round when there is one).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.views.decorators.debug import sensitive_variables

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_AUTH_CHALLENGES = (401, 407)
_CHILD_ENV = ("PATH", "HOME", "LANG", "TZ", "TMPDIR", "VIRTUAL_ENV", "SSL_CERT_FILE", "SSL_CERT_DIR")


@dataclass(frozen=True)
class TrunkCheckResult:
    """What a trunk check found (see the module docstring)."""

    reachable: bool
    options_code: int | None
    options_reason: str
    rtt_ms: float | None
    auth_ok: bool | None
    register_code: int | None = None
    register_reason: str = ""
    error: str = ""

    def summary(self) -> str:
        """One line for an operator."""
        if self.error and not self.reachable:
            # A check that sent nothing (F5: a refused certificate, a trunk the calls would refuse) says so itself.
            sent_nothing = self.error.startswith(("not checked", "OPTIONS not sent"))
            return self.error if sent_nothing else f"unreachable: {self.error}"
        parts = [f"reachable ({self.options_code} {self.options_reason}, {self.rtt_ms:.0f} ms)"
                 if self.reachable and self.rtt_ms is not None else "unreachable (no answer to OPTIONS)"]
        if self.register_code is not None:
            parts.append(f"REGISTER {self.register_code} {self.register_reason}")
        parts.append({True: "auth ok", False: "auth FAILED", None: "auth not challenged"}[self.auth_ok])
        return "; ".join(parts)


_KEEP_ALIVE: list[object] = []  # pjsua2 objects of the child, never destroyed (see _run_check)


# F6: the spec holds the password; a traceback of this frame (debug page, error mail) must not show it.
@sensitive_variables("spec", "trunk")
def check_trunk(trunk: Any, *, timeout_s: float = 8.0) -> TrunkCheckResult:
    """Run the check for a `telephony.models.Trunk` in a child process.

    Args:
        trunk: the trunk (its credentials go to the child through stdin, never the command line).
        timeout_s: how long SIP may take; the child gets a little more to start.

    Returns:
        The result; a child that fails or times out gives `reachable=False` with the error.
    """
    from django.conf import settings

    spec = {
        "id": trunk.pk, "host": trunk.host, "port": trunk.port, "transport": trunk.transport,
        "auth_mode": trunk.auth_mode, "username": trunk.username, "password": trunk.password,
        "realm": trunk.realm, "register_expiry_s": trunk.register_expiry_s, "srtp_policy": trunk.srtp_policy,
        "tls_ca_pem": trunk.tls_ca_pem,
    }
    # F1: the child needs neither the database nor any other secret of the web process: a short explicit list.
    env = {name: os.environ[name] for name in _CHILD_ENV if name in os.environ}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    command = [sys.executable, "-m", "telephony.trunk_check", "--timeout", str(timeout_s),
               "--bind", settings.UA_BIND_ADDRESS]
    try:
        done = subprocess.run(command, input=json.dumps(spec), capture_output=True, text=True,  # noqa: S603
                              timeout=timeout_s + 10, env=env, cwd=PROJECT_ROOT, check=False)
    except subprocess.TimeoutExpired:
        return TrunkCheckResult(False, None, "", None, None, error="the check timed out")
    except OSError as exc:
        # Answered here, not raised: subprocess's own frames hold the stdin text (the password) as a local, and
        # a traceback through them (debug page, error mail) would show it.
        return TrunkCheckResult(False, None, "", None, None, error=f"the check could not start ({type(exc).__name__})")
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            return TrunkCheckResult(**json.loads(line))
    return TrunkCheckResult(False, None, "", None, None, error=f"the check failed (exit {done.returncode})")


def _run_check(spec: dict[str, Any], bind: str, timeout_s: float) -> TrunkCheckResult:
    """The child's side: one Endpoint, one account, OPTIONS then REGISTER."""
    import pjsua2 as pj

    from telephony.choices import TrunkAuth
    from telephony.contract import TrunkSpec
    from telephony.ua.tls import TlsRefusals, refusal_text, verifying_tls_config

    # The password came on stdin (never a command line); the wire form refuses one, so it is set apart.
    password = str(spec.pop("password", "") or "")
    ca_pem = str(spec.pop("tls_ca_pem", "") or "")
    trunk = TrunkSpec.from_wire(spec).with_password(password).with_tls_ca(ca_pem)
    problems = trunk.security_problems()
    if problems:  # F5: nothing is sent for a trunk the calls would refuse
        return TrunkCheckResult(False, None, "", None, None, error="not checked: " + "; ".join(problems))
    refusals = TlsRefusals()

    class CheckEndpoint(pj.Endpoint):
        def onTransportState(self, prm: pj.OnTransportStateParam) -> None:  # pjsua2 callback name
            text = refusal_text(prm.tlsInfo)
            if text:
                refusals.record(str(prm.tlsInfo.remoteAddr), text)

    endpoint = CheckEndpoint()
    endpoint.libCreate()
    config = pj.EpConfig()
    config.uaConfig.threadCnt = 0
    config.logConfig.level = 0
    config.logConfig.consoleLevel = 0
    endpoint.libInit(config)
    transport = pj.TransportConfig()
    transport.boundAddress = bind
    transport.port = 0
    if trunk.transport == "tls":
        # F5: the trunk's certificate must chain to its CA (or the system's bundle) and name its host.
        verifying_tls_config(transport, ca_pem=trunk.tls_ca_pem)
    kinds = {"udp": pj.PJSIP_TRANSPORT_UDP, "tcp": pj.PJSIP_TRANSPORT_TCP, "tls": pj.PJSIP_TRANSPORT_TLS}
    transport_id = endpoint.transportCreate(kinds[trunk.transport], transport)
    endpoint.libStart()

    done = threading.Event()
    state: dict[str, Any] = {}

    class CheckAccount(pj.Account):
        def onSendRequest(self, prm: pj.OnSendRequestParam) -> None:  # pjsua2 callback name
            tsx = prm.e.body.tsxState.tsx
            state["options"] = (int(tsx.statusCode), str(tsx.statusText), time.monotonic())
            done.set()

        def onRegState(self, prm: pj.OnRegStateParam) -> None:  # pjsua2 callback name
            state["register"] = (int(prm.code), str(prm.reason))
            done.set()

    account_config = pj.AccountConfig()
    account_config.idUri = f"sip:{trunk.username or 'check'}@{trunk.host_port()}"
    account_config.sipConfig.transportId = transport_id
    account_config.regConfig.registerOnAdd = False
    if trunk.auth_mode != TrunkAuth.IP:
        account_config.sipConfig.authCreds.append(
            pj.AuthCredInfo("digest", trunk.realm, trunk.username, 0, trunk.password))
    if trunk.auth_mode == TrunkAuth.REGISTER:
        account_config.regConfig.registrarUri = f"sip:{trunk.host_port()}{trunk.uri_params()}"
        account_config.regConfig.timeoutSec = trunk.register_expiry_s
    account = CheckAccount()
    account.create(account_config)

    def pump_until(deadline: float) -> None:
        while not done.is_set() and time.monotonic() < deadline:
            endpoint.libHandleEvents(10)

    error = ""
    challenged = False
    sent = time.monotonic()
    try:
        request = pj.SendRequestParam()
        request.method = "OPTIONS"
        request.txOption.targetUri = f"sip:{trunk.host_port()}{trunk.uri_params()}"
        account.sendRequest(request)
        pump_until(sent + timeout_s)
    except pj.Error as exc:
        error = exc.info()
    options = state.get("options")
    if options is None and not error:
        error = f"no answer to OPTIONS within {timeout_s:g} s"
    if options is not None and "ECERTVERIF" in options[1]:
        # The handshake was refused before OPTIONS was written: not reachable, and nothing else is tried.
        refusal = refusals.reason_for(trunk.host, trunk.port) or options[1]
        _KEEP_ALIVE.append((endpoint, account))
        return TrunkCheckResult(False, None, "", None, None, error=f"OPTIONS not sent: {refusal}")
    code, reason, rtt = (options[0], options[1], (options[2] - sent) * 1000) if options else (None, "", None)
    # pjsip answers a timeout or transport failure itself (408/503 with no response received): not reachable.
    reachable = options is not None and not (code in (408, 503) and (rtt or 0) >= timeout_s * 1000 * 0.9)
    if code in _AUTH_CHALLENGES and trunk.auth_mode == TrunkAuth.IP:
        challenged = True
    auth_ok: bool | None = None
    if trunk.auth_mode != TrunkAuth.IP and code is not None:
        auth_ok = False if code in _AUTH_CHALLENGES else None
        challenged = code in _AUTH_CHALLENGES
    register_code: int | None = None
    register_reason = ""
    if trunk.auth_mode == TrunkAuth.REGISTER:
        done.clear()
        account.setRegistration(True)
        pump_until(time.monotonic() + timeout_s)
        if "register" in state:
            register_code, register_reason = state["register"]
            auth_ok = 200 <= register_code < 300
            if auth_ok:
                done.clear()
                account.setRegistration(False)  # leave no binding behind
                pump_until(time.monotonic() + 2)
    if code is not None and not challenged and trunk.auth_mode == TrunkAuth.DIGEST and 200 <= code < 300:
        auth_ok = None  # accepted without asking: says nothing about the credentials
    # No teardown: pjsua2's Account destructor asserts (aborting the child) once the account is gone, and it would
    # run when this frame returns. Keep both objects alive; main() writes the result, flushes and leaves with
    # os._exit, and the OS closes the sockets of this one-shot child.
    _KEEP_ALIVE.append((endpoint, account))
    return TrunkCheckResult(reachable=reachable, options_code=code, options_reason=reason,
                            rtt_ms=round(rtt, 1) if rtt is not None else None, auth_ok=auth_ok,
                            register_code=register_code, register_reason=register_reason, error=error)


def main(argv: list[str] | None = None) -> int:
    """Child entry point: trunk JSON on stdin, result JSON as the last line of stdout."""
    parser = argparse.ArgumentParser(description="Check one SIP trunk (OPTIONS, REGISTER).")
    parser.add_argument("--timeout", type=float, default=8.0)
    parser.add_argument("--bind", default="127.0.0.1")
    args = parser.parse_args(argv)
    spec = json.loads(sys.stdin.read())
    result = _run_check(spec, args.bind, args.timeout)
    sys.stdout.write("\n" + json.dumps(asdict(result)) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    from telephony.ua.endpoint import exit_without_teardown

    exit_without_teardown(main())  # pjsua2 destructors must not run after the result is out
