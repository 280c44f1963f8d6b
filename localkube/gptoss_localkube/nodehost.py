"""Run a real node on this host: containerd with the images it may run, then the kubelet,
kube-proxy and CoreDNS (files and command lines from ``realnode``; the host's network and the
one-node-per-machine lock from ``hostnet``, taken by the cluster before its API server starts).

containerd's root (its images) is kept under the cache so an image is imported once; containers
a node left behind are removed when the next one starts. Stopping the node cordons it and
deletes its pods first, so the kubelet tears their containers and network down itself, then
unmounts what the kubelet mounted under the node's directory (its own root, made a mount point,
and the pods' volumes).

    node = RealNode(api, supervisor, layout, tokens=..., server=..., images=[...])
    node.start(); ...; node.stop()
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from gptoss_localkube import clusterdns, flags, realnode
from gptoss_localkube.containerd import Containerd, run_checked
from gptoss_localkube.hostnet import cache_dir
from gptoss_localkube.kubeapi import ApiClient, NotReadyInTime, node_is_ready, wait_until
from gptoss_localkube.net import answers, free_ports
from gptoss_localkube.pki import Credentials
from gptoss_localkube.processes import Supervisor
from gptoss_localkube.realnode import NodeLayout
from gptoss_localkube.toolchain import NodeToolchain

__all__ = ["RealNode", "RealNodeOptions", "mounts_under", "start_real_node"]


@dataclass(frozen=True)
class RealNodeOptions:
    """A real node beside the fake ones: its binaries and pause image, the images it may run
    (imported from gptoss's podman store, as ``kind load`` would), and its labels."""

    toolchain: NodeToolchain
    images: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)


class RealNode:
    """containerd, the kubelet, kube-proxy and CoreDNS of one real node, started in that order."""

    def __init__(
        self,
        api: ApiClient,
        supervisor: Supervisor,
        layout: NodeLayout,
        *,
        server: str,
        tokens: Mapping[str, str],
        images: Sequence[str],
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self._api = api
        self._supervisor = supervisor
        self._layout = layout
        self._server = server
        self._tokens = dict(tokens)
        self._images = tuple(images)
        self._labels = dict(labels or {})
        self._containerd_root = cache_dir() / "containerd"
        self._containerd = Containerd(layout.containerd_socket)

    @property
    def name(self) -> str:
        return self._layout.name

    def _write_files(self) -> None:
        node = self._layout
        node.root.mkdir(parents=True, exist_ok=True)
        node.cni_conf_dir.mkdir(parents=True, exist_ok=True)
        node.containerd_config.write_text(
            realnode.containerd_config(node, root=self._containerd_root)
        )
        (node.cni_conf_dir / "10-gptoss-node.conflist").write_text(
            realnode.dump_json(realnode.cni_config(node))
        )
        (node.root / "kubelet.yaml").write_text(yaml.safe_dump(realnode.kubelet_config(node)))
        (node.root / "Corefile").write_text(clusterdns.corefile(node))
        users = {
            "kubelet": realnode.kubelet_user(node.name),
            "kube-proxy": realnode.KUBE_PROXY_USER,
            "coredns": realnode.COREDNS_USER,
        }
        for component, user in users.items():
            config = flags.client_kubeconfig(
                self._server, node.ca_file, token=self._tokens[user], user=user
            )
            path = node.kubeconfig(component)
            path.write_text(yaml.safe_dump(config))
            path.chmod(0o600)

    def start(self, *, timeout: float = 180.0) -> None:
        node, sup = self._layout, self._supervisor
        self._write_files()
        for document in clusterdns.coredns_rbac():
            kind = document["kind"].lower() + "s"
            self._api.create(f"/apis/rbac.authorization.k8s.io/v1/{kind}", document)

        self._containerd_root.mkdir(parents=True, exist_ok=True)
        sup.start("containerd", ["containerd", "--config", str(node.containerd_config)])
        wait_until(
            "containerd answering",
            self._containerd.answering,
            timeout=timeout,
            check=sup.check,
        )
        self._containerd.remove_all()
        self._containerd.import_images((node.pause_image, *self._images), scratch=node.root)

        sup.start("kubelet", realnode.kubelet_args(node, labels=self._labels))
        sup.start("kube-proxy", realnode.kube_proxy_args(node))
        sup.start("coredns", clusterdns.coredns_args(node))
        wait_until(
            f"node {node.name} Ready",
            lambda: any(
                node_is_ready(n) for n in self._api.nodes() if n["metadata"]["name"] == node.name
            ),
            timeout=timeout,
            check=sup.check,
        )
        for what, url in {
            "kube-proxy healthy": f"http://127.0.0.1:{node.proxy_healthz_port}/healthz",
            "CoreDNS ready": f"http://127.0.0.1:{node.dns_ready_port}/ready",
        }.items():
            wait_until(what, functools.partial(answers, url), timeout=timeout, check=sup.check)

    def stop(self, *, timeout: float = 60.0) -> None:
        """Cordon the node and delete its pods (the kubelet stops their containers and frees
        their network), then stop the node's processes and remove kube-proxy's rules."""
        name = self._layout.name
        with contextlib.suppress(httpx.HTTPError, OSError, RuntimeError):
            self._api.merge_patch(f"/api/v1/nodes/{name}", {"spec": {"unschedulable": True}})
            for pod in self._api.pods():
                if pod.get("spec", {}).get("nodeName") == name:
                    meta = pod["metadata"]
                    self._api.delete(
                        f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                        grace_period=0,
                    )
            with contextlib.suppress(NotReadyInTime):
                wait_until(
                    "the node's containers stopped by the kubelet",
                    lambda: (
                        self._supervisor.exit_code("kubelet") is not None
                        or not self._containerd.tasks()
                    ),
                    timeout=timeout,
                    interval=0.5,
                )
        for process in ("coredns", "kube-proxy", "kubelet"):
            self._supervisor.stop(process)
        if self._supervisor.exit_code("containerd") is None and any(
            c.name == "containerd" for c in self._supervisor.children
        ):
            self._containerd.remove_all()
        self._supervisor.stop("containerd")
        run_checked(self._layout.binary("kube-proxy"), "--cleanup", check=False)
        for mount_point in mounts_under(self._layout.root, Path("/proc/self/mounts").read_text()):
            run_checked("umount", "--lazy", mount_point, check=False)
        self._api.close()


def mounts_under(root: Path, table: str) -> list[str]:
    """Mount points at or below ``root`` in a ``/proc/mounts`` table, deepest first (pure)."""
    prefix = str(root)
    points = [line.split()[1] for line in table.splitlines() if len(line.split()) > 1]
    points = [p.replace("\\040", " ") for p in points]
    inside = {p for p in points if p == prefix or p.startswith(prefix + "/")}
    return sorted(inside, key=lambda p: (-p.count("/"), p))


def start_real_node(
    options: RealNodeOptions,
    *,
    root: Path,
    server: str,
    ca_file: Path,
    credentials: Credentials,
    timeout: float,
) -> RealNode:
    """Start the node of ``options`` for the cluster at ``server``; stopped again if it fails
    to come up."""
    ports = free_ports(6, "127.0.0.1")
    layout = NodeLayout(
        root=root / "node",
        bin_dir=options.toolchain.bin_dir,
        ca_file=ca_file,
        pause_image=options.toolchain.pause_image,
        kubelet_port=ports[0],
        kubelet_healthz_port=ports[1],
        proxy_metrics_port=ports[2],
        proxy_healthz_port=ports[3],
        dns_health_port=ports[4],
        dns_ready_port=ports[5],
    )
    node = RealNode(
        ApiClient(server, token=credentials.admin_token, ca_file=ca_file),
        Supervisor(root / "logs" / "node"),
        layout,
        server=server,
        tokens={user: token for user, (token, _) in credentials.tokens.items()},
        images=options.images,
        labels=options.labels,
    )
    try:
        node.start(timeout=timeout)
    except BaseException:
        node.stop()
        raise
    return node
