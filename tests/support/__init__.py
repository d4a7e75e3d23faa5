"""What several tests share: real things run on loopback (Samba AD DC, SMTP
server, a whole deployment), the in-process server with a fake agent, and small
in-memory fakes. Test modules import helpers from here only."""
