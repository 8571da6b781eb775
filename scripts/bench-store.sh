# Sourced by the benchmarks: with BLOBS=s3 in the environment, the install they make keeps its
# ciphertext in a throwaway single-node Garage (scripts/garage.sh) instead of its folder.
#   store_init WORK CONFIG   starts Garage under WORK (once) and points CONFIG at it
#   store_stop WORK          stops it
store_init() {
  [ "${BLOBS:-fs}" = s3 ] || return 0
  if [ -z "${SANDUQ_S3_ENDPOINT:-}" ]; then
    eval "$(bash scripts/garage.sh start "$1/garage")"
    export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY SANDUQ_S3_ENDPOINT
  fi
  sed -i "s|^\[store\]$|[store]\nblobs = \"s3://sanduq\"\ns3_endpoint = \"$SANDUQ_S3_ENDPOINT\"\ns3_region = \"garage\"|" "$2"
}
store_stop() {
  [ "${BLOBS:-fs}" = s3 ] || return 0
  bash scripts/garage.sh stop "$1/garage"
}
