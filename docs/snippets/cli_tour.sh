#!/usr/bin/env bash
# A tour of the reflow command, run from the directory that holds cli_app.py.
set -euo pipefail
export REFLOW_DB=tour.db                  # or pass --db tour.db to each command

run_id=$(python cli_app.py)               # enqueue a run of the "refund" workflow

reflow worker cli_app:engine --poll-interval 0.2 &   # execute runs until SIGINT/SIGTERM
worker=$!

reflow runs list                          # newest first: id, workflow, status, times
reflow runs show "$run_id"                # the run and its steps

# The run waits for "decision"; --app validates the payload against the workflow.
reflow events send "$run_id" decision '{"approved": true, "by": "dana"}' --app cli_app:engine

until reflow runs show "$run_id" --json | grep -q '"status": "completed"'; do sleep 0.2; done
reflow runs list --status completed --json

kill -TERM "$worker" && wait "$worker"    # graceful: in-flight runs stay reclaimable
