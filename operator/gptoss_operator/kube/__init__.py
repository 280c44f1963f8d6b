"""The operator's only door to the Kubernetes API: its client (``client.Kube``), the kinds it
may call and their discovery (``discovery``), how answers and errors come back (``answers``),
and the Events it posts (``events``)."""
