"""Watching the world: where local pods are, how loaded they are, whether ejected ones recovered.

``discovery`` chooses static pods or the cluster; ``kube`` lists and watches GptOssDeployments
and their pods; ``cluster_state`` reads what those objects mean (pure); ``pod_metrics`` scrapes
each pod's vLLM queue; ``probes`` are the active checks that readmit ejected backends.
"""
