#!/usr/bin/env bash
# Build the otelcol-mlbucket collector from collector-config/builder-config.yaml
# with the OpenTelemetry Collector Builder (ocb) and cache it outside the clone.
#
# Prints only the absolute path of the binary on stdout, so callers can run
#   OTELCOL_BIN="$(scripts/build-collector.sh)"
# Progress and errors go to stderr.
#
# Cache layout, under ${OTEL_MLBUCKET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-mlbucket}:
#   builder/<ocb version>/builder            the ocb binary
#   otelcol/<manifest key>/otelcol-mlbucket  the collector, with the generated
#                                            sources (go.mod, go.sum, main.go) beside it
# The manifest key is the first 16 hex digits of the manifest's SHA-256, so an
# edit of the manifest builds a new collector. A change of the Go toolchain
# alone does not: delete the otelcol/ folder to force a rebuild.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
manifest="${script_dir}/../collector-config/builder-config.yaml"
manifest="$(cd "$(dirname "${manifest}")" && pwd)/$(basename "${manifest}")"
dist_name="otelcol-mlbucket"
output_path_placeholder="OUTPUT_PATH_SET_BY_BUILD_SCRIPT"

cache_root="${OTEL_MLBUCKET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-mlbucket}"

log() {
    printf 'build-collector: %s\n' "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

if [[ ! -f "${manifest}" ]]; then
    die "manifest not found: ${manifest}"
fi

manifest_key="$(sha256sum "${manifest}" | cut -c1-16)"
otelcol_dir="${cache_root}/otelcol/${manifest_key}"
otelcol_bin="${otelcol_dir}/${dist_name}"

# Fast path: a finished build exists. The binary only ever appears through the
# rename below, so its presence means the build completed.
if [[ -x "${otelcol_bin}" ]]; then
    printf '%s\n' "${otelcol_bin}"
    exit 0
fi

command -v go >/dev/null || die "go not found on PATH. Install the Go toolchain, 1.25 or newer, which the collector v0.148.0 modules require."

# ocb v0.N.0 generates a go.mod that requires otelcol v0.N.0, so the builder
# version must equal the release that the manifest pins.
builder_version="$(sed -n 's|^[[:space:]]*- gomod: go.opentelemetry.io/collector/receiver/otlpreceiver \(v[0-9][0-9.]*\)[[:space:]]*$|\1|p' "${manifest}")"
if [[ -z "${builder_version}" ]]; then
    die "collector release not found: ${manifest} needs a '- gomod: go.opentelemetry.io/collector/receiver/otlpreceiver vX.Y.Z' line"
fi

if ! grep -q "^[[:space:]]*output_path: ${output_path_placeholder}[[:space:]]*$" "${manifest}"; then
    die "${manifest} must contain 'output_path: ${output_path_placeholder}' so that the build writes into the cache"
fi

mkdir -p "${cache_root}/otelcol" "${cache_root}/builder"

# Serialize concurrent builds of the same manifest, such as two test sessions
# starting at once. The second waits, then takes the fast path below.
exec 9>"${cache_root}/otelcol/${manifest_key}.lock"
if ! flock -n 9; then
    log "another build of manifest key ${manifest_key} is running, so this one waits for it"
    flock 9
fi
if [[ -x "${otelcol_bin}" ]]; then
    printf '%s\n' "${otelcol_bin}"
    exit 0
fi

# Only the holder of the lock creates work dirs for this key, so any that
# exist now were left by a build that was killed (SIGKILL skips the trap).
rm -rf "${cache_root}/otelcol/.build-${manifest_key}-"*

work_dir="$(mktemp -d "${cache_root}/otelcol/.build-${manifest_key}-XXXXXX")"
cleanup() {
    rm -rf "${work_dir}"
}
trap cleanup EXIT
# Turn Ctrl-C and kill into a normal exit, so that the EXIT trap runs.
trap 'exit 130' INT
trap 'exit 143' TERM

builder_bin="${cache_root}/builder/${builder_version}/builder"
if [[ ! -x "${builder_bin}" ]]; then
    log "installing ocb ${builder_version} into ${cache_root}/builder/${builder_version}"
    # go install writes into a scratch GOBIN first, so an interrupted install
    # never leaves a partial builder binary at the cached path.
    GOBIN="${work_dir}/gobin" go install "go.opentelemetry.io/collector/cmd/builder@${builder_version}" >&2
    mkdir -p "${cache_root}/builder/${builder_version}"
    mv -f "${work_dir}/gobin/builder" "${builder_bin}"
fi

sources_dir="${work_dir}/dist"
build_manifest="${work_dir}/builder-config.yaml"
sed "s|^\([[:space:]]*output_path:\) ${output_path_placeholder}[[:space:]]*$|\1 ${sources_dir}|" \
    "${manifest}" >"${build_manifest}"

log "building ${dist_name} for manifest key ${manifest_key} in ${work_dir} (several minutes on 2 cores when the Go module and build caches are cold)"
start_seconds="${SECONDS}"
# TMPDIR keeps ocb's own scratch folder and go build's work files inside the
# work dir, which the EXIT trap removes.
# --skip-strict-versioning=false makes ocb fail when `go mod tidy` resolves
# otelcol to a release other than the builder's. That happens when the
# manifest mixes releases.
TMPDIR="${work_dir}" "${builder_bin}" \
    --config "${build_manifest}" \
    --skip-strict-versioning=false >&2

if [[ ! -x "${sources_dir}/${dist_name}" ]]; then
    die "ocb finished but ${sources_dir}/${dist_name} is missing"
fi
"${sources_dir}/${dist_name}" --version >&2 || die "the built ${dist_name} failed to run '--version'"
cp "${manifest}" "${sources_dir}/builder-config.yaml"

# otelcol_dir appears complete or not at all, because a rename within one
# file system is atomic. A leftover folder without a binary (its binary
# deleted by hand) is replaced.
if [[ -e "${otelcol_dir}" ]]; then
    rm -rf "${otelcol_dir}"
fi
mv -T "${sources_dir}" "${otelcol_dir}"
log "built ${otelcol_bin} in $((SECONDS - start_seconds)) s"

printf '%s\n' "${otelcol_bin}"
