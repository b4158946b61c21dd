"""Published routing table versions: the store, the service, the CLI and the live follower.

A table set is validated, then stored whole and immutable in the SQL store (DATABASE_URL) as
a version whose id is its `tables_version`. One version is active; every process routes with
it and follows a publish or a rollback within seconds (see `gateway.tables.follow`).
"""
