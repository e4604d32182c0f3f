"""How an attack's impact and recovery are seen: the backend's watch over the target's group
(`chaosmonkey.backends`), the fault's own moments where the backend shows nothing (`applied`), or
what a client sees (`probes`)."""
