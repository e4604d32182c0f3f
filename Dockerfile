# chaosmonkey as a container image. Crash kills signal the target's main process from the host, so
# run it as root with the host's process namespace and the engine's socket (network faults need
# only the socket: they run in helper containers from this image that share the target's network):
#   docker run -d --pid=host -v /var/run/docker.sock:/var/run/docker.sock \
#     -v "$PWD/policies:/etc/chaosmonkey/policies:ro" -p 127.0.0.1:9797:9797 \
#     --label chaosmonkey.io/protected=true chaosmonkey
# Installs from the source copied in; offline, from wheels made first with `pip wheel . -w dist/`.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PATH=/opt/chaosmonkey/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CHAOSMONKEY_DB=/var/lib/chaosmonkey/chaosmonkey.db

# Network faults run iptables and tc in helper containers made from this image.
RUN command -v iptables >/dev/null && command -v tc >/dev/null \
 || (apt-get update && apt-get install -y --no-install-recommends iptables iproute2 \
     && rm -rf /var/lib/apt/lists/*)

COPY . /src
RUN python3 -m venv /opt/chaosmonkey \
 && if ls /src/dist/*.whl >/dev/null 2>&1; then \
        pip install --no-cache-dir --no-index --find-links /src/dist chaosmonkey-sre; \
    else \
        pip install --no-cache-dir /src; \
    fi \
 && mkdir -p /etc/chaosmonkey /var/lib/chaosmonkey \
 && cp -r /src/policies /etc/chaosmonkey/policies \
 && rm -rf /src

VOLUME /var/lib/chaosmonkey
EXPOSE 9797
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
    CMD ["python3", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:9797/metrics', timeout=4)"]
ENTRYPOINT ["chaosmonkey"]
CMD ["run", "--policies", "/etc/chaosmonkey/policies", "--metrics-address", "0.0.0.0"]
