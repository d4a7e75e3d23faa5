"""Real things the tests run on loopback (Samba AD DC, …)."""
