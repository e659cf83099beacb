#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised (/docker-entrypoint-initdb.d).
# Each service gets its own role and its own database, which that role owns; the role is not a
# superuser, may not create roles or databases, and no other role may connect to its database.
# The password of service <name> comes from the variable <NAME>_DB_PASSWORD (compose passes it
# from .env), never from a file in the repository; psql reads it with \getenv, so it appears
# on no command line.
#
# SERVICE_DATABASES lists the services (default: ingest prober notifier).
# Changing a password later: ALTER ROLE <name> PASSWORD … in psql, then update .env (this
# script does not run again on an existing volume).
set -e

password_variable() {
  echo "$(echo "$1" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
}

create_service_database() {
  # $1: the service, naming its role and its database.
  psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    --set=service="$1" --set=password_variable="$(password_variable "$1")" <<'SQL'
\getenv password :password_variable
CREATE ROLE :"service" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
  PASSWORD :'password';
CREATE DATABASE :"service" OWNER :"service";
REVOKE ALL ON DATABASE :"service" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"service" TO :"service";
SQL
}

services="${SERVICE_DATABASES:-ingest prober notifier}"
# Every check before any change: a failed init leaves a volume the image never initialises again.
for service in $services; do
  case "$service" in
    *[!a-z0-9_]*) echo "postgres-init: bad service name '$service'" >&2; exit 1 ;;
  esac
  variable="$(password_variable "$service")"
  eval "password_is_set=\${$variable:+yes}"
  if [ "$password_is_set" != yes ]; then
    echo "postgres-init: $variable is not set: the $service role needs a password (see README)" >&2
    exit 1
  fi
done
for service in $services; do
  create_service_database "$service"
done
