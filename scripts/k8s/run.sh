#!/usr/bin/env bash
# Spread one stampede run over SHARDS pods of a Kubernetes Indexed Job, then merge the parts
# into one exact result (histograms added, counters summed) with thresholds judged on the whole.
#
#   SHARDS=8 scripts/k8s/run.sh http http://api.internal:8080/ -c 80000 -R 400k -d 5m
#
# Pod I runs `stampede ARGS --shard I/SHARDS --start-at T`, so every pod waits for one common
# start time T (now + START_DELAY) and carries 1/SHARDS of the connections, rate and requests.
# Each writes /results/NAME-I.json on a ReadWriteMany volume (PVC); a second Job merges them into
# /results/NAME.json and prints the report. Clocks must agree (NTP): a pod that starts after T
# says so in its log, and the merged time line is only as aligned as the clocks.
#
# Env: SHARDS (4), NAME (stampede-<time>), IMAGE (stampede:latest), PVC (stampede-results),
#      NAMESPACE (default), START_DELAY seconds (60: room for image pulls and scheduling),
#      THRESHOLDS ("p99<50ms;errors<1%": judged by the merge step), CPU (2) per pod.
# --render as the first argument prints the manifests instead of applying them.
set -euo pipefail
render=0
if [ "${1:-}" = "--render" ]; then render=1; shift; fi
if [ $# -lt 2 ]; then
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
SHARDS=${SHARDS:-4}; NAME=${NAME:-stampede-$(date +%Y%m%d%H%M%S)}; IMAGE=${IMAGE:-stampede:latest}
PVC=${PVC:-stampede-results}; NAMESPACE=${NAMESPACE:-default}; START_DELAY=${START_DELAY:-60}
THRESHOLDS=${THRESHOLDS:-}; CPU=${CPU:-2}
case "$SHARDS" in ''|*[!0-9]*|0) echo "SHARDS must be a positive whole number" >&2; exit 2;; esac
START_AT=$(( $(date +%s) + START_DELAY ))

# YAML flow-sequence items, JSON-quoted (valid YAML) so URLs and rules pass through unchanged.
q() { python3 -c 'import json,sys; print(", ".join(json.dumps(a) for a in sys.argv[1:]))' "$@"; }
run_args=$(q "$@" --shard "\$(JOB_COMPLETION_INDEX)/$SHARDS" --start-at "$START_AT" --quiet \
  --json "/results/$NAME-\$(JOB_COMPLETION_INDEX).json")
merge_args=(merge)
for i in $(seq 0 $((SHARDS - 1))); do merge_args+=("/results/$NAME-$i.json"); done
merge_args+=(-o "/results/$NAME.json")
IFS=';' read -r -a rules <<< "$THRESHOLDS"
for r in "${rules[@]}"; do [ -n "$r" ] && merge_args+=(--threshold "$r"); done
merge_args=$(q "${merge_args[@]}")

manifests() {
cat <<YAML
apiVersion: batch/v1
kind: Job
metadata:
  name: $NAME
  namespace: $NAMESPACE
  labels: {app: stampede, run: $NAME}
spec:
  completionMode: Indexed
  completions: $SHARDS
  parallelism: $SHARDS
  backoffLimit: 0            # a failed shard is a failed run: no silent retry at another time
  template:
    metadata:
      labels: {app: stampede, run: $NAME}
    spec:
      restartPolicy: Never
      # one shard per node, so the shards do not share a machine's CPUs and ports
      topologySpreadConstraints:
        - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway,
           labelSelector: {matchLabels: {run: $NAME}}}
      containers:
        - name: stampede
          image: $IMAGE
          args: [$run_args]
          resources:
            requests: {cpu: "$CPU"}
            limits: {cpu: "$CPU"}
          volumeMounts: [{name: results, mountPath: /results}]
      volumes:
        - {name: results, persistentVolumeClaim: {claimName: $PVC}}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: $NAME-merge
  namespace: $NAMESPACE
  labels: {app: stampede, run: $NAME}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: merge
          image: $IMAGE
          args: [$merge_args]
          volumeMounts: [{name: results, mountPath: /results}]
      volumes:
        - {name: results, persistentVolumeClaim: {claimName: $PVC}}
YAML
}

if [ "$render" = 1 ]; then manifests; exit 0; fi
command -v kubectl >/dev/null || { echo "kubectl not found (use --render to print the manifests)" >&2; exit 1; }
# The load Job first; the merge Job only after every shard completed.
manifests | python3 -c 'import sys; print(sys.stdin.read().split("\n---\n")[0])' | kubectl apply -f -
echo "shards start at $(date -d "@$START_AT" -u +%FT%TZ) ($START_AT)"
kubectl -n "$NAMESPACE" wait --for=condition=complete "job/$NAME" --timeout=24h
manifests | python3 -c 'import sys; print(sys.stdin.read().split("\n---\n")[1])' | kubectl apply -f -
kubectl -n "$NAMESPACE" wait --for=condition=complete "job/$NAME-merge" --timeout=10m || true
kubectl -n "$NAMESPACE" logs "job/$NAME-merge"
