"""Where targets live: `docker/` (the Docker engine) and `kubernetes/` (the Kubernetes API),
each the only importer of its SDK, both seen by the engine through `base`."""
