"""Services: the call flow's steps (transfer, escalation) and the triage of a PSAP's
request (intake). They decide; the adapters carry their decisions out."""
