"""A local Kubernetes cluster: real etcd, API server, controller manager and scheduler on
loopback, with KWOK standing in for the kubelets of a catalog of fake GPU nodes.

    with LocalCluster(ensure_toolchain()) as info:
        print(info.kubeconfig)

Start order: credentials and kubeconfig -> etcd (until /health) -> API server (until /readyz)
-> controller manager, scheduler, KWOK -> the catalog's nodes (until Ready and untainted) ->
the ``default`` service account (so pods can be created) -> with ``real_node``, one real node
(containerd, kubelet, kube-proxy, CoreDNS; see ``realnode``) until Ready. Stop ends every
process in reverse order and removes the temporary directory unless asked to keep it.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from gptoss_localkube import flags, realnode
from gptoss_localkube.hostnet import HostClaim, claim_host
from gptoss_localkube.kubeapi import ApiClient, node_is_ready, wait_until
from gptoss_localkube.net import free_ports
from gptoss_localkube.nodehost import RealNode, RealNodeOptions, start_real_node
from gptoss_localkube.nodes import CATALOG, NodeSpec, build_nodes
from gptoss_localkube.pki import Credentials, make_credentials
from gptoss_localkube.podcontainer import RuntimeCommand, run_container_command
from gptoss_localkube.processes import Supervisor
from gptoss_localkube.runtime import PodRuntime
from gptoss_localkube.simruntime import vllm_sim_command
from gptoss_localkube.toolchain import Toolchain

__all__ = ["ClusterInfo", "LocalCluster", "RealNodeOptions"]

DEFAULT_POD_NETWORK = "127.1.0.0/16"


@dataclass(frozen=True)
class ClusterInfo:
    """How to reach a running local cluster."""

    root: Path
    kubeconfig: Path
    server: str
    token: str
    ca_file: Path
    pod_network: str
    log_dir: Path
    audit_log: Path
    node_names: tuple[str, ...]
    timings: dict[str, float] = field(default_factory=dict)


class LocalCluster:
    """Brings a local cluster up on ``start`` and down on ``stop`` (or as a context manager)."""

    def __init__(
        self,
        toolchain: Toolchain,
        *,
        root: Path | None = None,
        pod_network: str = DEFAULT_POD_NETWORK,
        catalog: tuple[NodeSpec, ...] = CATALOG,
        keep_files: bool = False,
        runtimes: dict[str, RuntimeCommand] | None = None,
        real_node: RealNodeOptions | None = None,
    ) -> None:
        self._toolchain = toolchain
        self._real_node_options = real_node
        self._real_node: RealNode | None = None
        self._host_claim: HostClaim | None = None
        if real_node is not None and pod_network == DEFAULT_POD_NETWORK:
            pod_network = realnode.KWOK_POD_NETWORK
        self._own_root = root is None
        self._root = root or Path(tempfile.mkdtemp(prefix="gptoss-localkube-"))
        self._pod_network = pod_network
        self._catalog = catalog
        self._keep_files = keep_files
        self._supervisor = Supervisor(self._root / "logs")
        self._pod_supervisor = Supervisor(self._root / "logs" / "pods")
        self._runtimes: dict[str, RuntimeCommand] = {
            "process": run_container_command,
            "vllm-sim": vllm_sim_command,
            **(runtimes or {}),
        }
        self._runtime: PodRuntime | None = None
        self._info: ClusterInfo | None = None

    @property
    def supervisor(self) -> Supervisor:
        """The control plane's processes."""
        return self._supervisor

    @property
    def pod_supervisor(self) -> Supervisor:
        """The processes run for annotated pods by the pod runtime."""
        return self._pod_supervisor

    def __enter__(self) -> ClusterInfo:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _layout(self) -> flags.Layout:
        ports = free_ports(7, flags.HOST)
        return flags.Layout(
            root=self._root,
            bin_dir=self._toolchain.bin_dir,
            stages_dir=self._toolchain.upstream_stages,
            etcd_client_port=ports[0],
            etcd_peer_port=ports[1],
            apiserver_port=ports[2],
            controller_manager_port=ports[3],
            scheduler_port=ports[4],
            kwok_port=ports[5],
            pod_network=self._pod_network,
            address=flags.HOST if self._real_node_options is None else realnode.NODE_ADDRESS,
        )

    def _write_files(self, layout: flags.Layout) -> Credentials:
        real = self._real_node_options is not None
        creds = make_credentials(
            host=layout.address,
            extra_ips=[flags.HOST, realnode.first_address(layout.service_network)] if real else (),
            identities=realnode.identities() if real else None,
        )
        layout.pki.mkdir(parents=True, exist_ok=True)
        for name, content in {
            "ca.crt": creds.ca_cert,
            "apiserver.crt": creds.serving_cert + creds.ca_cert,
            "apiserver.key": creds.serving_key,
            "kubelet-client.crt": creds.kubelet_client_cert,
            "kubelet-client.key": creds.kubelet_client_key,
            "sa.key": creds.service_account_key,
            "tokens.csv": creds.token_file().encode(),
        }.items():
            path = layout.pki / name
            path.write_bytes(content)
            path.chmod(0o600)
        (layout.root / "audit-policy.yaml").write_text(flags.dump_kubeconfig(flags.AUDIT_POLICY))
        layout.logs.mkdir(parents=True, exist_ok=True)
        config = flags.kubeconfig(layout, token=creds.admin_token)
        layout.kubeconfig.write_text(flags.dump_kubeconfig(config))
        layout.kubeconfig.chmod(0o600)
        return creds

    def start(self, *, timeout: float = 180.0) -> ClusterInfo:
        t0 = time.monotonic()
        timings: dict[str, float] = {}
        layout = self._layout()
        if self._real_node_options is not None:
            self._host_claim = claim_host(layout.address)
        creds = self._write_files(layout)
        token = creds.admin_token
        sup = self._supervisor

        sup.start("etcd", flags.etcd_args(layout))
        etcd_health = f"http://{flags.HOST}:{layout.etcd_client_port}/health"
        wait_until(
            "etcd healthy",
            lambda: httpx.get(etcd_health, timeout=2).json().get("health") == "true",
            timeout=timeout,
            check=sup.check,
        )
        timings["etcd"] = time.monotonic() - t0

        sup.start("kube-apiserver", flags.apiserver_args(layout))
        api = ApiClient(layout.server, token=token, ca_file=layout.pki / "ca.crt")
        try:
            wait_until("kube-apiserver ready", api.readyz, timeout=timeout, check=sup.check)
            timings["apiserver"] = time.monotonic() - t0

            sup.start("kube-controller-manager", flags.controller_manager_args(layout))
            sup.start("kube-scheduler", flags.scheduler_args(layout))
            sup.start("kwok", flags.kwok_args(layout, stage_files=self._toolchain.stage_files()))

            nodes = build_nodes(self._pod_network, self._catalog)
            for node in nodes:
                api.create("/api/v1/nodes", node)
            names = tuple(n["metadata"]["name"] for n in nodes)
            wait_until(
                "all nodes Ready and untainted",
                lambda: all(
                    node_is_ready(n) for n in api.nodes() if n["metadata"]["name"] in names
                ),
                timeout=timeout,
                check=sup.check,
            )
            timings["nodes"] = time.monotonic() - t0
            wait_until(
                "default service account",
                lambda: api.get("/api/v1/namespaces/default/serviceaccounts/default"),
                timeout=timeout,
                check=sup.check,
            )
            if self._real_node_options is not None:
                self._real_node = start_real_node(
                    self._real_node_options,
                    root=self._root,
                    server=layout.server,
                    ca_file=layout.pki / "ca.crt",
                    credentials=creds,
                    timeout=timeout,
                )
                names = (*names, self._real_node.name)
                timings["real node"] = time.monotonic() - t0
        finally:
            api.close()
        if self._runtimes:
            runtime_api = ApiClient(layout.server, token=token, ca_file=layout.pki / "ca.crt")
            self._runtime = PodRuntime(runtime_api, self._pod_supervisor, self._runtimes)
            self._runtime.start()
        timings["total"] = time.monotonic() - t0
        self._info = ClusterInfo(
            root=self._root,
            kubeconfig=layout.kubeconfig,
            server=layout.server,
            token=token,
            ca_file=layout.pki / "ca.crt",
            pod_network=self._pod_network,
            log_dir=layout.logs,
            audit_log=layout.audit_log,
            node_names=names,
            timings=timings,
        )
        return self._info

    def restart(self, component: str, *, kill: bool = False, timeout: float = 120.0) -> None:
        """Restart one control-plane process (``etcd``, ``kube-apiserver``, ...) in place, with
        its data, and wait until the API server answers ``/readyz`` again."""
        info = self._info
        if info is None:
            raise RuntimeError("the cluster is not running")
        self._supervisor.restart(component, kill=kill)
        api = ApiClient(info.server, token=info.token, ca_file=info.ca_file)
        try:
            wait_until(
                f"the API server ready after restarting {component}",
                api.readyz,
                timeout=timeout,
                check=self._supervisor.check,
            )
        finally:
            api.close()

    def stop(self) -> None:
        if self._real_node is not None:
            self._real_node.stop()
            self._real_node = None
        if self._runtime is not None:
            self._runtime.stop()
            self._runtime = None
        self._pod_supervisor.stop_all()
        self._supervisor.stop_all()
        if self._host_claim is not None:
            self._host_claim.release()
            self._host_claim = None
        if self._own_root and not self._keep_files:
            with contextlib.suppress(OSError):
                shutil.rmtree(self._root)
