"""Sending notices and codes to people: email, and text messages and voice
calls through a phone provider (SPEC G1, G9)."""

from passback.server.notify.mail import MailError, MailMessage
from passback.server.notify.smtp import SmtpSender

__all__ = ["MailError", "MailMessage", "SmtpSender"]
