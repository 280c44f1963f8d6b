"""The operator's only door to the Kubernetes API: its client (``client``), the kinds it may
call and their discovery (``discovery``), how answers and errors come back (``answers``), and
the Events it posts (``events``). ``Kube`` is the package's one entry point."""

from gptoss_operator.kube.client import Kube

__all__ = ["Kube"]
