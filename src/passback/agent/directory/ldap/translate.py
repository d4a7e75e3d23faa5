"""ldap3's exceptions, translated into the directory exception tree at the boundary."""

from __future__ import annotations

import ssl

from ldap3.core import exceptions as ldap_exc

from passback.agent.directory.base import DirectoryError, DirectoryUnavailable
from passback.protocol.outcomes import Outcome

#: Errors after which the connection cannot be used again.
BROKEN_CONNECTION = (ldap_exc.LDAPCommunicationError, ldap_exc.LDAPSocketOpenError, OSError)

#: Errors that may strike after a request was sent: a write may have been applied.
_AFTER_SEND = (
    ldap_exc.LDAPSocketReceiveError,
    ldap_exc.LDAPSessionTerminatedByServerError,
    ldap_exc.LDAPResponseTimeoutError,
)


def is_broken(exc: BaseException) -> bool:
    return isinstance(exc, BROKEN_CONNECTION)


def translate(exc: Exception, *, where: str, write: bool = False) -> DirectoryError:
    """The most specific directory error for an ldap3 or socket error.

    Args:
        exc: what ldap3 raised.
        where: ``host:port`` of the DC, for the message.
        write: the failed operation was a write; if the connection died after the
            request went out, the outcome is unknown, not "not written".
    """
    if isinstance(exc, ssl.SSLCertVerificationError):
        # ldap3 re-raises with a class derived from both its error and the ssl one.
        return DirectoryUnavailable(
            f"TLS verification of the DC certificate at {where} failed; check ca_file and "
            f"tls_server_name: {exc}"
        )
    if write and isinstance(exc, _AFTER_SEND):
        return DirectoryUnavailable(
            f"connection to {where} broke while waiting for the answer to a write; "
            f"the password may or may not have been written: {exc}",
            outcome=Outcome.OUTCOME_UNKNOWN,
        )
    if isinstance(exc, BROKEN_CONNECTION):
        return DirectoryUnavailable(f"directory at {where} unreachable: {exc}")
    return DirectoryError(f"unexpected LDAP error from {where}: {type(exc).__name__}: {exc}")


def worth_retrying(exc: DirectoryError) -> bool:
    """Whether a read that failed this way may succeed on a fresh connection: the
    connection broke in use (the DC closed it), as opposed to "cannot connect"."""
    return isinstance(exc.__cause__, _IN_USE)


_IN_USE = (
    ldap_exc.LDAPSocketSendError,
    ldap_exc.LDAPSocketReceiveError,
    ldap_exc.LDAPSessionTerminatedByServerError,
)
