"""``Kube`` against a stand-in API server: what goes on the wire, and how answers become the
operator's errors (discovery included: a CRD installed after start is still found)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from kubernetes import client

from gptoss_operator import __version__
from gptoss_operator.errors import KubeConflict, KubeRejected, KubeUnavailable
from gptoss_operator.kube.client import FIELD_MANAGER, Kube

CR_API = "gptoss.dev/v1alpha1"
CR_PATH = "/apis/gptoss.dev/v1alpha1/namespaces/ns/gptossdeployments/chat"
DEPLOYMENT_PATH = "/apis/apps/v1/namespaces/ns/deployments/chat-vllm"
NOW = "2026-11-25T12:00:00Z"


def _resource(name: str, kind: str, verbs: list[str] | None = None) -> dict[str, Any]:
    return {"name": name, "kind": kind, "namespaced": True, "verbs": verbs or ["get", "patch"]}


GROUPS = {
    "/api/v1": [_resource("pods", "Pod"), _resource("events", "Event")],
    "/apis/apps/v1": [_resource("deployments", "Deployment")],
    "/apis/gptoss.dev/v1alpha1": [
        _resource("gptossdeployments", "GptOssDeployment"),
        _resource("gptossdeployments/status", "GptOssDeployment"),
        _resource("gptossdeployments/scale", "Scale"),
    ],
}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class ApiServer:
    """Serves discovery, and answers other requests from ``answers`` (default 200 ``{}``)."""

    url: str = ""
    crd_installed: bool = True
    answers: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def answer(self, method: str, path: str) -> tuple[int, Any]:
        if method == "GET" and path == "/version":
            return 200, {"major": "1", "minor": "34", "gitVersion": "v1.34.0"}
        if method == "GET" and path == "/apis":
            groups = ["apps", "gptoss.dev"] if self.crd_installed else ["apps"]
            return 200, {"kind": "APIGroupList", "groups": [_group(g) for g in groups]}
        if method == "GET" and path in GROUPS:
            if path.startswith("/apis/gptoss.dev") and not self.crd_installed:
                return 404, {"kind": "Status", "code": 404}
            return 200, {"kind": "APIResourceList", "resources": GROUPS[path]}
        return self.answers.get((method, path), (200, {"kind": "Status", "status": "Success"}))

    def reply(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        """What the server sends: a created Event comes back as sent, as the API server does."""
        if method == "POST" and path.endswith("/events") and (method, path) not in self.answers:
            return 201, body
        return self.answer(method, path)

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method != "GET"]


def _group(name: str) -> dict[str, Any]:
    version = "v1alpha1" if name == "gptoss.dev" else "v1"
    entry = {"groupVersion": f"{name}/{version}", "version": version}
    return {"name": name, "versions": [entry], "preferredVersion": entry}


@pytest.fixture
def server() -> Iterator[ApiServer]:
    state = ApiServer()

    class Handler(http.server.BaseHTTPRequestHandler):
        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            state.requests.append(
                Request(
                    self.command,
                    url.path,
                    parse_qs(url.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    json.loads(raw) if raw else None,
                )
            )
            status, body = state.reply(self.command, url.path, state.requests[-1].body)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def _kube(url: str) -> Kube:
    configuration = client.Configuration()
    configuration.host = url
    configuration.retries = 0
    return Kube(client.ApiClient(configuration))


def _cr() -> dict[str, Any]:
    return {
        "apiVersion": CR_API,
        "kind": "GptOssDeployment",
        "metadata": {"name": "chat", "namespace": "ns", "uid": "u-1"},
    }


def test_apply_is_a_forced_server_side_apply_under_the_operators_field_manager(
    server: ApiServer,
) -> None:
    live = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "chat-vllm"}}
    server.answers[("PATCH", DEPLOYMENT_PATH)] = (200, live)
    desired = {**live, "metadata": {"name": "chat-vllm", "namespace": "ns"}}

    assert _kube(server.url).apply(desired) == live

    (write,) = server.writes()
    assert write.path == DEPLOYMENT_PATH
    assert write.query == {"fieldManager": [FIELD_MANAGER], "force": ["true"]}
    assert write.headers["content-type"] == "application/apply-patch+yaml"
    assert write.headers["user-agent"] == f"{FIELD_MANAGER}/{__version__}"
    assert write.body == desired


def test_reads_return_the_json_the_server_sent(server: ApiServer) -> None:
    pod = {"metadata": {"name": "p", "labels": {"gptoss.dev/deployment": "chat"}}, "spec": {}}
    server.answers[("GET", "/api/v1/namespaces/ns/pods")] = (
        200,
        {"apiVersion": "v1", "kind": "PodList", "items": [pod]},
    )
    server.answers[("GET", CR_PATH)] = (200, _cr())
    kube = _kube(server.url)

    assert kube.get(CR_API, "GptOssDeployment", "ns", "chat") == _cr()
    (listed,) = kube.list("v1", "Pod", "ns", labels="gptoss.dev/deployment=chat", fields="a=b")
    assert listed["metadata"] == pod["metadata"]
    query = server.requests[-1].query
    assert query == {"labelSelector": ["gptoss.dev/deployment=chat"], "fieldSelector": ["a=b"]}


def test_a_missing_object_reads_as_none_and_deletes_as_done(server: ApiServer) -> None:
    gone = {"kind": "Status", "code": 404, "message": "not found"}
    server.answers[("GET", CR_PATH)] = (404, gone)
    server.answers[("DELETE", DEPLOYMENT_PATH)] = (404, gone)
    kube = _kube(server.url)

    assert kube.get(CR_API, "GptOssDeployment", "ns", "chat") is None
    kube.delete("apps/v1", "Deployment", "ns", "chat-vllm")
    (delete,) = server.writes()
    assert delete.query == {"propagationPolicy": ["Background"]}


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (409, KubeConflict),
        (429, KubeUnavailable),
        (500, KubeUnavailable),
        (503, KubeUnavailable),
        (403, KubeRejected),
        (422, KubeRejected),
    ],
)
def test_answers_become_the_operators_errors_by_status(
    server: ApiServer, status: int, error: type[Exception]
) -> None:
    server.answers[("PATCH", DEPLOYMENT_PATH)] = (status, {"message": "spec.replicas: Invalid"})
    desired = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "chat-vllm", "namespace": "ns"},
    }

    with pytest.raises(error) as raised:
        _kube(server.url).apply(desired)

    assert getattr(raised.value, "status", None) == status
    assert f"PATCH {DEPLOYMENT_PATH}: {status}" in str(raised.value)
    if status < 500 and status != 429:
        assert "spec.replicas: Invalid" in str(raised.value)


def test_an_unreachable_server_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(KubeUnavailable):
        _kube(f"http://127.0.0.1:{port}").get(CR_API, "GptOssDeployment", "ns", "chat")


def test_a_crd_installed_after_start_is_found(server: ApiServer) -> None:
    server.crd_installed = False
    server.answers[("GET", CR_PATH)] = (200, _cr())
    kube = _kube(server.url)

    assert kube.get(CR_API, "GptOssDeployment", "ns", "chat") is None
    with pytest.raises(KubeRejected) as raised:
        kube.list(CR_API, "GptOssDeployment", None)
    assert raised.value.status == 404

    server.crd_installed = True
    assert kube.get(CR_API, "GptOssDeployment", "ns", "chat") == _cr()


def test_kinds_gptoss_does_not_manage_are_refused_without_a_call(server: ApiServer) -> None:
    with pytest.raises(KubeRejected, match="does not manage Secret"):
        _kube(server.url).get("v1", "Secret", "ns", "token")
    assert server.requests == []


def test_status_and_replicas_are_merge_patched_through_their_subresources(
    server: ApiServer,
) -> None:
    kube = _kube(server.url)
    server.answers[("PATCH", f"{CR_PATH}/status")] = (200, _cr())

    assert kube.patch_status(CR_API, "GptOssDeployment", "ns", "chat", {"x": None}) == _cr()
    kube.scale(CR_API, "GptOssDeployment", "ns", "chat", 3)

    status, scale = server.writes()
    assert (status.path, status.body) == (f"{CR_PATH}/status", {"status": {"x": None}})
    assert (scale.path, scale.body) == (f"{CR_PATH}/scale", {"spec": {"replicas": 3}})
    for write in (status, scale):
        assert write.headers["content-type"] == "application/merge-patch+json"


def test_a_pods_annotations_are_merge_patched_onto_the_pod(server: ApiServer) -> None:
    path = "/api/v1/namespaces/ns/pods/chat-vllm-0"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "chat-vllm-0"}}
    server.answers[("PATCH", path)] = (200, pod)
    body = {"metadata": {"annotations": {"gptoss.dev/loaded-adapters": "sql"}}}

    assert _kube(server.url).merge_patch("v1", "Pod", "ns", "chat-vllm-0", body) == pod

    (write,) = server.writes()
    assert (write.path, write.body) == (path, body)
    assert write.headers["content-type"] == "application/merge-patch+json"


def test_events_carry_type_reason_and_message_about_the_cr(server: ApiServer) -> None:
    _kube(server.url).post_event(
        _cr(), type="Warning", reason="WaitingForGPUNode", message="m" * 2000, now=NOW
    )

    (post,) = server.writes()
    assert post.path == "/api/v1/namespaces/ns/events"
    event = post.body
    assert (event["type"], event["reason"], event["message"]) == (
        "Warning",
        "WaitingForGPUNode",
        "m" * 1024,
    )
    assert event["involvedObject"] == {
        "apiVersion": CR_API,
        "kind": "GptOssDeployment",
        "name": "chat",
        "namespace": "ns",
        "uid": "u-1",
    }
    assert event["metadata"] == {"generateName": "chat.", "namespace": "ns"}
    assert event["firstTimestamp"].startswith("2026-11-25T12:00:00")
    assert event["source"] == {"component": FIELD_MANAGER}


def test_an_event_the_server_refuses_does_not_fail_the_caller(server: ApiServer) -> None:
    server.answers[("POST", "/api/v1/namespaces/ns/events")] = (403, {"message": "forbidden"})
    _kube(server.url).post_event(_cr(), type="Normal", reason="Serving", message="", now=NOW)
    assert len(server.writes()) == 1
