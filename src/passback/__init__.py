"""Passback: self-service password reset with writeback to on-premises directories."""

__version__ = "0.1.0"
