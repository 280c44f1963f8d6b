"""A real Kubernetes control plane on loopback with fake GPU nodes, for tests and the demo."""

__version__ = "0.1.0"
