"""The relay: the agents' links to this server (SPEC S1, L4, L5).

- ``local``: the in-process hub, both sides of ``types.Hub``: routing for the
  use-cases, the registry of links for the endpoint;
- ``endpoint``: the WebSocket endpoint ``/relay/v1``, frames in and out;
- ``inbox``: what an agent's credentials, heartbeats and sync batches mean.
"""
