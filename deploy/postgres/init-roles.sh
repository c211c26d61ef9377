#!/bin/sh
# First start of the PostgreSQL volume only (docker-entrypoint-initdb.d): the application's role.
# POSTGRES_USER (aurum_owner) owns the tables and runs Aurum's migrations
# (AURUM_STORE__OWNER_URL); `aurum` only gets row access, granted by those migrations, so
# row-level security binds it.
set -eu
app_password="$(cat /run/secrets/postgres_app_password)"
psql --set ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --set app_password="$app_password" <<'SQL'
CREATE ROLE aurum LOGIN PASSWORD :'app_password';
SQL
