"""Leader election among the operator's replicas through a coordination.k8s.io Lease: the
record and the rules of taking it (``lease``, pure), the elector that holds it (``elector``),
and what a standby serves meanwhile (``standby``). Only the leader runs Kopf, so only the
leader reconciles, autoscales and writes; docs/operator-ha.md says why a Lease, not Kopf's
peering.
"""
