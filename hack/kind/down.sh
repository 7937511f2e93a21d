#!/usr/bin/env bash
# Deletes the kind lab cluster (make kind-down).
source "$(dirname "$0")/lib.sh"
need "$KIND"
"$KIND" delete cluster --name "$CLUSTER"
