#!/usr/bin/env bash
# Builds the victim and manager images (make images).
source "$(dirname "$0")/lib.sh"
need "$DOCKER"
"$DOCKER" build -f victim/Dockerfile -t "$VICTIM_IMAGE" .
"$DOCKER" build -f operator/Dockerfile -t "$MANAGER_IMAGE" .
