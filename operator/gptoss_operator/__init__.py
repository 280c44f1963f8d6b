"""gptoss operator: reconciles GptOssDeployments into GPU-pinned vLLM workloads.

Layers, top down; a layer imports only those below it (import-linter checks it, ``make lint``)::

    __main__                     start Kopf with the settings and a Kube (when leading)
    handlers                     Kopf decorators only, and error translation
    reconciling | autoscaling | leading | loading
                                 one reconcile and its runner; replicas from demand; the Lease
                                 that lets one replica of several run; LoRA adapters loaded on
                                 running pods (independent)
    children                     pure builders of the owned objects
    placement                    GPUs, recipes, sizing, weights (pure)
    kube                         the only module that talks to the API server
    api | settings | names
    errors

The builders and deciders (``placement``, ``children``, ``api``, ``autoscaling.decide``,
``autoscaling.economics``, ``autoscaling.governor``, ``autoscaling.returns``,
``autoscaling.capacity``, ``autoscaling.standby``, ``autoscaling.spill``,
``autoscaling.blindness``, ``autoscaling.policies``, ``leading.lease``, ``reconciling.judging``,
``reconciling.status``, ``reconciling.planning``, ``reconciling.outcome``, ``reconciling.drift``,
``loading.decide``) never
import ``kube``, Kopf or an HTTP client.
"""

__version__ = "0.1.0"
