#!/usr/bin/env bash
# The storage benchmarks of docs/performance.md, in one run:
#   1. a 1 GiB upload to the filesystem store and to Garage (S3), each beside the reference
#      `age` CLI writing the same file to the same disk;
#   2. the server's peak RSS during a 2 GiB upload to Garage;
#   3. `sanduq fetch` of 10,000 small items from each store.
# A benchmark, not a test: the figures depend on the machine and its load.
#
#   bash scripts/bench-stores.sh
set -euo pipefail
cd "$(dirname "$0")/.."
echo "######## 1 GiB ingest, filesystem store"
bash scripts/bench-ingest.sh 1024 1 | sed -n '/== results/,$p'
echo "######## 1 GiB ingest, Garage (S3)"
BLOBS=s3 bash scripts/bench-ingest.sh 1024 1 | sed -n '/== results/,$p'
echo "######## 2 GiB upload to Garage (S3): peak RSS"
# A 2 GiB file and its form exceed the default 2 GiB request limit: raise it to 3 GiB.
BLOBS=s3 BENCH_CONFIG_SED='s/^max_request_bytes = 2147483648$/max_request_bytes = 3221225472/' \
  bash scripts/bench-ingest.sh 2048 1 | sed -n '/== results/,$p'
echo "######## fetch of 10,000 small items, filesystem store"
bash scripts/bench-editor.sh 10000 0 | grep '^fetch of'
echo "######## fetch of 10,000 small items, Garage (S3)"
BLOBS=s3 bash scripts/bench-editor.sh 10000 0 | grep '^fetch of'
