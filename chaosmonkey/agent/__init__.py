"""The node agent (`chaosmonkey agent`): network faults on Kubernetes pods.

Runs on every node (a DaemonSet with hostPID and NET_ADMIN), finds a pod's network namespace
from its uid through its sandbox process (`sandbox`), and holds a fault there with the same
keeper as on Docker: the same rules, tagged by attack, removed at the deadline even when nobody
reverts (`faults`). The monkey calls it over HTTP with a shared bearer token (`server`,
`client`). At start, it removes the faults whose keepers died with a previous agent (`orphans`).
"""

AGENT_PORT = 9798  # the agent's API: its default port, and the monkey's when a pod names none
