"""The Kubernetes backend: the only package that imports `kubernetes`.

`backend` the facade (targets, pod and network operations, recovery watch), `api` the calls and
their errors (`errors`), `config` in-cluster or kubeconfig, `targets` the listing, `pods` pods as
targets and groups, `disrupt` what deleting and evicting a pod ask, `network` network faults
through the node agents, `events` Kubernetes Events on attacked pods, `watch` the recovery watch,
`lease` leader election on a coordination.k8s.io Lease.
"""

from chaosmonkey.backends.kubernetes.backend import KubernetesBackend
from chaosmonkey.backends.kubernetes.lease import KubeLease

__all__ = ["KubeLease", "KubernetesBackend"]
