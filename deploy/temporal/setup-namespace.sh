#!/bin/sh
# Creates KS Cloud's Temporal namespace (unless it exists) and registers its custom search attributes
# (run by the `temporal-setup` service of docker-compose.yml, image temporalio/admin-tools, as soon as the
# server container starts; `npm run start:cluster` does the same through the SDK, infra/temporal-cluster.ts).
# Idempotent: what exists is left alone. Retries until the server answers, up to SETUP_TIMEOUT_SECONDS.
set -eu

ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${TEMPORAL_NAMESPACE_RETENTION:-7d}"
TIMEOUT="${SETUP_TIMEOUT_SECONDS:-300}"

# Name and type of every attribute: must match workflows/search-attributes.ts (test/deploy checks it).
ATTRIBUTES='
SiteId Keyword
SubscriptionStatus Keyword
SubscriptionEndsAt Datetime
DeletionStatus Keyword
RolloutStatus Keyword
SiteIds KeywordList
'

STARTED=$(date +%s)

log() { echo "temporal-setup: $*"; }

# wait_for <description> <command...>: runs the command until it succeeds or the time is up.
wait_for() {
  description=$1
  shift
  until "$@"; do
    if [ $(($(date +%s) - STARTED)) -ge "$TIMEOUT" ]; then
      log "gave up after ${TIMEOUT}s waiting for: $description" >&2
      exit 1
    fi
    log "waiting for: $description"
    sleep 3
  done
}

serving() {
  temporal operator cluster health --address "$ADDRESS" 2>/dev/null | grep -qw SERVING
}

namespace_exists() {
  temporal operator namespace describe --address "$ADDRESS" --namespace "$NAMESPACE" >/dev/null 2>&1
}

# A failed create counts if the namespace exists afterwards (created concurrently).
create_namespace() {
  namespace_exists && return 0
  log "creating namespace $NAMESPACE (retention $RETENTION)"
  temporal operator namespace create --address "$ADDRESS" --namespace "$NAMESPACE" --retention "$RETENTION" ||
    namespace_exists
}

registered() {
  temporal operator search-attribute list --address "$ADDRESS" --namespace "$NAMESPACE" 2>/dev/null | grep -qw "$1"
}

# Creates the attribute unless it is there; a failed create counts if the attribute exists afterwards
# (e.g. created concurrently), otherwise it is retried.
ensure() {
  registered "$1" && return 0
  log "creating search attribute $1 ($2)"
  temporal operator search-attribute create --address "$ADDRESS" --namespace "$NAMESPACE" \
    --name "$1" --type "$2" || registered "$1"
}

wait_for "Temporal at $ADDRESS to serve" serving
wait_for "namespace $NAMESPACE" create_namespace
# Served through the namespace cache: wait until it shows before adding attributes to it.
wait_for "namespace $NAMESPACE to be served" namespace_exists

echo "$ATTRIBUTES" | while read -r name type; do
  [ -n "$name" ] || continue
  wait_for "search attribute $name ($type)" ensure "$name" "$type"
done

# The list is read through the namespace cache: wait until every attribute shows, so workers that
# start next can set them.
echo "$ATTRIBUTES" | while read -r name type; do
  [ -n "$name" ] || continue
  wait_for "search attribute $name to be listed" registered "$name"
done

log "registered on namespace $NAMESPACE:$(echo "$ATTRIBUTES" | awk 'NF { printf " %s", $1 }')"
