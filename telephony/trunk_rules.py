"""The security rules of a trunk's configuration (F5), shared by the trunk model and form, the UA pool (through
`telephony.contract.TrunkSpec`) and the trunk check. Pure: no Django, no pjsua2."""

from __future__ import annotations

PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"


def trunk_security_errors(*, transport: str, auth_mode: str, realm: str, srtp_policy: str,
                          tls_ca_pem: str = "") -> dict[str, str]:
    """The security rules of a trunk's configuration (F5), field name -> message; empty when they hold.

    One rule set for the trunk form and model (`Trunk.clean`), the UA (no account is built for a trunk that
    breaks one) and the trunk check:

    - digest and REGISTER trunks name the provider's realm: a blank or ``*`` realm answers a challenge from any
      realm, so whoever can answer our requests with a 401 gets a digest response to crack offline;
    - SRTP ``mandatory`` needs TLS signalling: SDES keys travel in the SDP, and over UDP or TCP anyone who reads
      the signalling reads the keys (RFC 4568 section 8.3: the SDP must be protected);
    - a trunk's own CA certificates apply to TLS only, and must be PEM certificates.
    """
    errors: dict[str, str] = {}
    if auth_mode in ("digest", "register") and realm.strip() in ("", "*"):
        errors["realm"] = ("digest and REGISTER authentication need the provider's realm (a blank or '*' realm "
                           "would answer a challenge from any realm)")
    if srtp_policy == "mandatory" and transport != "tls":
        errors["srtp_policy"] = ("SRTP mandatory needs the TLS transport: SDES keys travel in the SDP, which "
                                 f"{transport.upper()} signalling sends in clear")
    if tls_ca_pem.strip():
        if transport != "tls":
            errors["tls_ca_pem"] = "a CA certificate applies to TLS trunks only"
        elif PEM_CERTIFICATE not in tls_ca_pem:
            errors["tls_ca_pem"] = f"the CA certificate must be PEM text starting with {PEM_CERTIFICATE}"
    return errors
