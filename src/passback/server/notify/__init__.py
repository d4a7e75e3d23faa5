"""Sending notices to people: email now, SMS and voice later (SPEC G1, G9)."""

from passback.server.notify.mail import MailError, MailMessage
from passback.server.notify.smtp import SmtpSender

__all__ = ["MailError", "MailMessage", "SmtpSender"]
