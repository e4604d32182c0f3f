"""A Kubernetes API server simulator for tests: real HTTP on 127.0.0.1, for the real client.

`KubeSim` serves it from a daemon thread (`with KubeSim() as sim:`), and sets up the cluster
directly: `create_namespace`, `create_deployment`, `create_statefulset`, `create_daemonset`,
`create_pod`, `create_pdb`, `add_token`, `write_kubeconfig`, `pods`. The `kube` fixture
(fixtures.py) gives the same methods over a real cluster when KUBECONFIG is set.
`python -m tests.kubesim --kubeconfig PATH` serves one until interrupted.

Simulated:
- Discovery (/version, /api, /apis); core v1 namespaces, pods (and their eviction subresource),
  events; apps/v1 deployments, replicasets, statefulsets, daemonsets; policy/v1
  poddisruptionbudgets; coordination.k8s.io/v1 leases.
- Get; list with label selectors (=, ==, !=, in, notin, exists, !key, >, <) and field selectors
  (metadata.name, metadata.namespace, status.phase and the other pod fields), limit/continue
  paging; watch from a resourceVersion as chunked JSON lines (410 Expired as an ERROR event when
  the bounded history no longer holds it), ended after timeoutSeconds; create; replace with
  optimistic concurrency on metadata.resourceVersion; merge, strategic-merge (as merge) and JSON
  patch; delete with grace periods, preconditions and dry run.
- One resourceVersion counter over all objects, as etcd has; objects shaped as the API server
  returns them (zero-valued omitempty fields left out, list items without kind/apiVersion).
- Controllers: workloads keep their replica count. A deleted or evicted pod is replaced at once
  (a StatefulSet's under the same name once the old pod is gone); new pods go Pending -> Running
  (Ready=False) -> Ready on timers, and workload statuses follow. Pods of a workload made with
  `create_*` start Running and Ready; `create_pod` holds a bare pod in the state it is given.
  Deleting a workload deletes what it owns; deleting a namespace deletes everything in it.
- Graceful deletion: deletionTimestamp and Ready=False at once, gone after
  min(grace, termination_s); `restart_containers` stands for a container killed and restarted.
- Evictions checked against PodDisruptionBudgets counting Ready pods, refused with 429 and the
  API server's message and DisruptionBudget cause; budget statuses kept current.
- Bearer tokens: `admin` may do everything; tokens from `add_token` get 403 with the API server's
  message for their forbidden (verb, resource, namespace) rules; unknown tokens get 401.
- Errors as `Status` objects with the API server's codes, reasons and messages (400, 401, 403,
  404, 405, 409, 410, 415, 422, 429, 500).

Not simulated: TLS, RBAC objects (Roles, bindings), admission, server-side apply, status
subresources, nodes, services and endpoints, exec/logs/port-forward, rollouts of a changed pod
template, finalizers, consistent snapshots for paged lists (later pages see current objects),
DELETED/ADDED transitions when a change moves an object out of or into a watch's selector (events
are filtered on the new state), bookmarks, the namespace Terminating phase, protobuf. As on a real
API server, listing pods in a namespace that does not exist gives an empty list; reads, creates,
deletes and evictions there give 404.
"""

from tests.kubesim.sim import KubeSim

__all__ = ["KubeSim"]
