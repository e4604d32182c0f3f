"""`python -m tests.kubesim --kubeconfig PATH`: serve a simulator until interrupted.

For trying a client (or this test suite, through KUBECONFIG=PATH) against it by hand.
"""

from __future__ import annotations

import argparse
import signal
import threading

from tests.kubesim.sim import KubeSim


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.kubesim", description=__doc__)
    parser.add_argument("--kubeconfig", required=True, help="where to write the kubeconfig")
    parser.add_argument("--namespace", default="default", help="a namespace to create")
    arguments = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with KubeSim() as sim:
        sim.create_namespace(arguments.namespace)
        sim.write_kubeconfig(arguments.kubeconfig, namespace=arguments.namespace)
        print(f"serving {sim.url}; kubeconfig {arguments.kubeconfig}", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
