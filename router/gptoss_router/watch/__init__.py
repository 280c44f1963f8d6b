"""Watching the world: where local pods are, how loaded they are, whether ejected ones recovered.

``discovery`` chooses static pods or the cluster; ``kube`` lists and watches GptOssDeployments
and their pods; ``cluster_objects`` reads those objects and ``cluster_state`` what they mean for
pools (pure); ``pod_metrics`` scrapes each pod's vLLM queue and ``pod_models`` the LoRA adapters
it lists; ``probes`` are the active checks that readmit ejected backends.
"""
