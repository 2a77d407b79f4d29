#!/usr/bin/env bash
# Build (or find in the cache) every Go-built component that the tests run
# against, and print their paths as shell assignments:
#   OTELCOL_BIN=/abs/path/otelcol-mlbucket
#   VICTORIALOGS_BIN=/abs/path/victoria-logs
# Use it as `eval "$(scripts/build-all.sh)"`. Progress goes to stderr.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

otelcol_bin="$(bash "${script_dir}/build-collector.sh")"
victorialogs_bin="$(bash "${script_dir}/build-victorialogs.sh")"

# %q quotes the paths for eval, in case the cache path contains spaces.
printf 'OTELCOL_BIN=%q\n' "${otelcol_bin}"
printf 'VICTORIALOGS_BIN=%q\n' "${victorialogs_bin}"
