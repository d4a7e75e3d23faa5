"""``passback demo``: a Samba AD DC with demo users, the server, a tenant and an
onboarded agent on one machine (:mod:`passback.demo.run`); the DC lifecycle is in
:mod:`passback.demo.samba`."""
