"""The core/v1 Event the operator posts about an object, as the JSON body to create.

Built as the client's ``CoreV1Event`` model and created through the same dynamic client as
everything else. Not ``kopf.event``: Kopf queues events through a context variable that it sets
in each object's processing task only, so it works from the Kopf handlers but raises
``LookupError`` in the resync thread and the autoscaler (tasks of the startup handler; tried
against a local cluster), and reconciles also run outside Kopf. Not ``CoreV1Api`` either (its
load cost, for one call), nor ``events.k8s.io/v1`` (``EventsV1Api``): the chart's role grants
``create`` on core events only.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from kubernetes import client

__all__ = ["event_body"]


def event_body(
    involved: dict[str, Any],
    *,
    type: str,
    reason: str,
    message: str,
    now: str,
    component: str,
    instance: str,
) -> dict[str, Any]:
    """An Event about ``involved`` from ``component`` (the field manager), posted by
    ``instance`` (an operator replica); the message is cut to the API's 1024 characters."""
    meta = involved["metadata"]
    stamp = dt.datetime.fromisoformat(now)
    event = client.CoreV1Event(
        api_version="v1",
        kind="Event",
        metadata=client.V1ObjectMeta(generate_name=f"{meta['name']}.", namespace=meta["namespace"]),
        involved_object=client.V1ObjectReference(
            api_version=involved.get("apiVersion"),
            kind=involved.get("kind"),
            name=meta["name"],
            namespace=meta["namespace"],
            uid=meta.get("uid"),
        ),
        type=type,
        reason=reason,
        message=message[:1024],
        source=client.V1EventSource(component=component),
        reporting_component=f"gptoss.dev/{component}",
        reporting_instance=instance,
        first_timestamp=stamp,
        last_timestamp=stamp,
        count=1,
    )
    body: dict[str, Any] = json.loads(event.to_json())
    return body
