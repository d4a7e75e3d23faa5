"""Email over SMTP with the standard library's ``smtplib``, in a worker thread.

Why smtplib and not aiosmtplib: one message per reset is sent, so a thread per
message costs nothing that matters, and smtplib is in the standard library and
has been exercised by every mail server there is. Every blocking step has a
timeout (``ServerSettings.smtp_timeout``).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import smtplib
import ssl
from email.message import EmailMessage

from passback.server.notify.mail import MailError, MailMessage
from passback.server.settings import SmtpSecurity

logger = logging.getLogger(__name__)


class SmtpSender:
    """Sends through one SMTP server.

    Args:
        security: ``"tls"`` connects with TLS at once (port 465), ``"starttls"``
            upgrades after EHLO and fails if the server cannot, ``"none"`` sends
            in clear (a relay on loopback only).
        tls_context: the certificates to trust; the system's by default.
    """

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        security: SmtpSecurity = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 15.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("give both an SMTP username and password, or neither")
        self.host = host
        self.port = port
        self.sender = sender
        self.security = security
        self._username = username
        self._password = password
        self.timeout = timeout
        self._tls = tls_context or ssl.create_default_context()

    async def send(self, message: MailMessage) -> None:
        await asyncio.to_thread(self._send, self._compose(message))
        logger.info(
            "mail: sent %r via %s:%d",
            message.subject,
            self.host,
            self.port,
            extra={"mail_to": message.to},
        )

    def _compose(self, message: MailMessage) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.to
        mail["Subject"] = message.subject
        mail["Date"] = email.utils.formatdate(localtime=False)
        mail["Message-ID"] = email.utils.make_msgid(domain=self.sender.rpartition("@")[2] or None)
        mail.set_content(message.body)
        # After set_content, which drops every Content-* header set before it.
        mail["Content-Language"] = message.language.replace("_", "-")
        return mail

    def _send(self, mail: EmailMessage) -> None:
        where = f"{self.host}:{self.port}"
        try:
            if self.security == "tls":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=self._tls
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                if self.security == "starttls":
                    client.starttls(context=self._tls)
                if self._username is not None and self._password is not None:
                    client.login(self._username, self._password)
                client.send_message(mail)
        except smtplib.SMTPNotSupportedError as exc:
            raise MailError(f"the mail server {where} does not offer STARTTLS") from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(f"the mail server {where} refused the SMTP login") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise MailError(f"the mail server {where} refused the recipient") from exc
        except smtplib.SMTPResponseException as exc:
            raise MailError(f"the mail server {where} answered {exc.smtp_code}") from exc
        except smtplib.SMTPException as exc:
            raise MailError(f"SMTP with {where} failed: {type(exc).__name__}") from exc
        except ssl.SSLError as exc:
            raise MailError(f"TLS with the mail server {where} failed: {exc.reason}") from exc
        except TimeoutError as exc:
            raise MailError(f"the mail server {where} did not answer in time") from exc
        except OSError as exc:
            raise MailError(f"cannot reach the mail server {where}: {exc.strerror}") from exc
