"""The self-service portal (SPEC W1, W2, W8, T2): pages under ``/portal/<slug>/``
and the same flow as JSON under ``/api/v1/portal/<slug>/``."""
