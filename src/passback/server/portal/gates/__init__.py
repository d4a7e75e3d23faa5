"""The verification gates of the portal (SPEC G1): one module per method."""
