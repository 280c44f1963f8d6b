"""The operator under faults, on a control plane of its own (so restarts disturb no other test):
the API server and etcd restart, the operator is killed mid-reconcile, and hypothesis throws
arbitrary specs at it. Afterwards everything converges, no child is duplicated or orphaned,
status does not flap, and the operator is still running."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes import client, config

from gptoss_localkube.cluster import ClusterInfo, LocalCluster
from gptoss_localkube.toolchain import Toolchain
from tests.operator.gptoss_crd import CRD_PATH, GROUP, PLURAL, VERSION, manifest
from tests.operator.operator_process import operator_running
from tests.waiting import eventually

ENV = {"GPTOSS_OPERATOR_RESYNC_SECONDS": "2"}


@dataclass
class Chaos:
    cluster: LocalCluster
    info: ClusterInfo
    api: client.ApiClient
    kubectl_path: Path
    logs: Path

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.kubectl_path), f"--kubeconfig={self.info.kubeconfig}", *args],
            input=stdin, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    def apply(self, namespace: str, obj: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        return self.kubectl("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(obj))

    def cr(self, namespace: str, name: str) -> dict[str, Any]:
        body: dict[str, Any] = client.CustomObjectsApi(self.api).get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name
        )
        return body


@pytest.fixture(scope="module")
def chaos(toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chaos]:
    cluster = LocalCluster(toolchain, pod_network="127.66.0.0/16")
    with cluster as info:
        api = config.new_client_from_config(config_file=str(info.kubeconfig))
        logs = tmp_path_factory.mktemp("chaos")
        world = Chaos(cluster, info, api, toolchain.kubectl, logs)
        assert world.kubectl("apply", "--server-side", "-f", str(CRD_PATH)).returncode == 0
        waited = world.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                               "crd/gptossdeployments.gptoss.dev")  # fmt: skip
        assert waited.returncode == 0, waited.stderr
        yield world
        api.close()


def _namespace(world: Chaos, name: str) -> str:
    assert world.kubectl("create", "namespace", name).returncode == 0
    return name


def _ready(world: Chaos, namespace: str, name: str) -> dict[str, Any] | None:
    cr = world.cr(namespace, name)
    for condition in cr.get("status", {}).get("conditions", []) or []:
        if condition["type"] == "Ready" and condition["reason"] == "Serving":
            return dict(condition)
    return None


def _children(world: Chaos, namespace: str) -> dict[str, list[dict[str, Any]]]:
    found = {}
    for kind in ("deployments", "services", "poddisruptionbudgets"):
        listed = json.loads(world.kubectl("get", kind, "-n", namespace, "-o", "json").stdout)
        found[kind] = listed["items"]
    return found


def _assert_one_child_of_each_per_cr(world: Chaos, namespace: str, names: list[str]) -> None:
    uids = {world.cr(namespace, n)["metadata"]["uid"]: n for n in names}
    for kind, items in _children(world, namespace).items():
        owners = [
            ref["uid"] for item in items for ref in item["metadata"].get("ownerReferences", [])
        ]
        assert sorted(owners) == sorted(uids), f"{kind}: owners {owners} for CRs {uids}"
        assert len(items) == len(uids), f"{kind}: {len(items)} objects for {len(uids)} CRs"


SPEC = {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB", "count": 1}}


@pytest.mark.parametrize("component", ["kube-apiserver", "etcd"])
def test_the_operator_converges_after_a_control_plane_restart_without_flapping(
    chaos: Chaos, component: str
) -> None:
    namespace = _namespace(chaos, f"restart-{component}")
    log = chaos.logs / f"operator-{component}.log"
    with operator_running(chaos.info.kubeconfig, log, **ENV) as process:
        assert chaos.apply(namespace, manifest("steady", SPEC)).returncode == 0
        before = eventually(
            lambda: _ready(chaos, namespace, "steady"),
            timeout=90,
            what="Serving before the restart",
        )
        chaos.cluster.restart(component)
        scaled = chaos.kubectl("scale", "gptoss/steady", "--replicas=2", "-n", namespace)
        assert scaled.returncode == 0, scaled.stderr
        eventually(
            lambda: chaos.cr(namespace, "steady")["status"].get("readyReplicas") == 2,
            timeout=120,
            what=f"the operator to act on a change after {component} restarted",
        )
        after = _ready(chaos, namespace, "steady")
        assert after is not None
        assert after["lastTransitionTime"] == before["lastTransitionTime"], "Ready flapped"
        assert process.poll() is None, log.read_text()[-2000:]
    _assert_one_child_of_each_per_cr(chaos, namespace, ["steady"])


def test_killing_the_operator_mid_reconcile_leaves_nothing_duplicated_or_orphaned(
    chaos: Chaos,
) -> None:
    namespace = _namespace(chaos, "killed")
    names = [f"cr-{i}" for i in range(6)]
    first, second = chaos.logs / "killed-first.log", chaos.logs / "killed-second.log"
    with operator_running(chaos.info.kubeconfig, first, **ENV) as process:
        for name in names:
            assert chaos.apply(namespace, manifest(name, SPEC)).returncode == 0
        eventually(
            lambda: any(_children(chaos, namespace)["deployments"]),
            timeout=60,
            what="the operator to start writing children",
        )
        process.kill()
        process.wait()
    with operator_running(chaos.info.kubeconfig, second, **ENV) as process:
        for name in names:
            eventually(
                lambda n=name: _ready(chaos, namespace, n),
                timeout=120,  # type: ignore[misc]
                what=f"{name} to converge after the kill",
            )
        assert process.poll() is None
    _assert_one_child_of_each_per_cr(chaos, namespace, names)


_FIELDS = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["gpt-oss-120b", "gpt-oss-20b", "gpt-oss-7b", ""]),
        "gpu": st.fixed_dictionaries(
            {"product": st.sampled_from(["H100-80GB", "A100-80GB", "MI300X", "L4", "B200"])},
            optional={
                "count": st.integers(-2, 12),
                "resourceName": st.sampled_from(["nvidia.com/gpu", "bad name", "amd.com/gpu"]),
            },
        ),
    },
    optional={
        "replicas": st.integers(-1, 70),
        "serving": st.fixed_dictionaries(
            {},
            optional={
                "maxModelLen": st.integers(0, 300_000),
                "gpuMemoryUtilization": st.floats(0.0, 1.5, allow_nan=False),
                "maxNumSeqs": st.integers(-5, 5000),
                "extraArgs": st.lists(st.text(max_size=20), max_size=3),
            },
        ),
        "autoscaling": st.fixed_dictionaries(
            {"maxReplicas": st.integers(-1, 70)},
            optional={
                "minReplicas": st.integers(-1, 70),
                "scaleDownDelay": st.sampled_from(["10m", "1h30m", "soon", ""]),
            },
        ),
        "source": st.fixed_dictionaries(
            {
                "uri": st.sampled_from(
                    ["hf://openai/gpt-oss-20b", "s3://b/m", "pvc://claim/m", "ftp://x", "gs://b/m"]
                )
            }
        ),
        "unknownField": st.booleans(),
    },
)


def test_arbitrary_specs_are_rejected_by_the_api_server_or_answered_with_a_condition(
    chaos: Chaos,
) -> None:
    namespace = _namespace(chaos, "fuzzed")
    log = chaos.logs / "fuzzed.log"
    accepted: list[str] = []
    rejected: list[str] = []
    with operator_running(chaos.info.kubeconfig, log, **ENV) as process:

        @settings(
            max_examples=30,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(spec=_FIELDS)
        def one(spec: dict[str, Any]) -> None:
            name = f"fuzz-{len(accepted)}-{abs(hash(json.dumps(spec, sort_keys=True))) % 10**6}"
            created = chaos.apply(namespace, manifest(name, spec))
            if created.returncode != 0:
                assert "Invalid value" in created.stderr or "unknown field" in created.stderr \
                    or "Unsupported value" in created.stderr or "must" in created.stderr, \
                    created.stderr  # fmt: skip
                rejected.append(created.stderr)
                return
            accepted.append(name)

        one()
        for name in accepted:
            eventually(
                lambda n=name: chaos.cr(namespace, n).get("status", {}).get("conditions"),  # type: ignore[misc]
                timeout=60,
                what=f"a condition on {name}",
            )
        assert process.poll() is None, log.read_text()[-3000:]
    assert accepted and rejected, "the generated specs should include valid and invalid ones"
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
