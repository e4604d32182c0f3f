"""A TCP fault proxy (the role Toxiproxy plays elsewhere): `chaosmonkey proxy`.

Each proxy listens on an address and relays every connection to its upstream (or, transparently,
to where iptables found it was headed), through the toxics added at run time over the control API.

    config.py   addresses, API bodies, the config file, their errors
    toxics.py   the faults, one small class each, registered by name
    pump.py     one connection: two pumps and their delay queues
    server.py   listeners and the registry of proxies
    access.py   who may use the control API: origins, the bearer token, JSON bodies
    reach.py    where proxies made over the API may relay to and listen on
    control.py  the HTTP control API and the command's loop
    wire.py     bytes and sockets: HTTP detection and answers, SO_ORIGINAL_DST, SO_MARK, RST
"""
