#!/bin/sh
# Run once by the postgres image's entrypoint when it creates the cluster: let the pitr agent's
# container take base backups (pg_basebackup is a replication connection), with a password.
set -eu
echo 'host replication all all scram-sha-256' >>"$PGDATA/pg_hba.conf"
