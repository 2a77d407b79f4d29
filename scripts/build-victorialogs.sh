#!/usr/bin/env bash
# Build the VictoriaLogs server (victoria-logs) from its pinned Go module and
# cache it outside the clone.
#
# Prints only the absolute path of the binary on stdout, so callers can run
#   VICTORIALOGS_BIN="$(scripts/build-victorialogs.sh)"
# Progress and errors go to stderr.
#
# Cache layout, under ${OTEL_MLBUCKET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-mlbucket}:
#   victorialogs/<version>/victoria-logs   the server, with the go.mod and
#                                          go.sum that built it beside it
set -euo pipefail

victorialogs_module="github.com/VictoriaMetrics/VictoriaLogs"
victorialogs_version="v1.52.2"
victorialogs_package="${victorialogs_module}/app/victoria-logs"

cache_root="${OTEL_MLBUCKET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-mlbucket}"
victorialogs_dir="${cache_root}/victorialogs/${victorialogs_version}"
victorialogs_bin="${victorialogs_dir}/victoria-logs"

log() {
    printf 'build-victorialogs: %s\n' "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

# Fast path: a finished build exists. The binary only ever appears through the
# rename below, so its presence means the build completed.
if [[ -x "${victorialogs_bin}" ]]; then
    printf '%s\n' "${victorialogs_bin}"
    exit 0
fi

command -v go >/dev/null || die "go not found on PATH. Install the Go toolchain, 1.26.5 or newer, which the go.mod of VictoriaLogs ${victorialogs_version} requires."

mkdir -p "${cache_root}/victorialogs"

# Serialize concurrent builds of the same version. The second build waits,
# then takes the fast path below.
exec 9>"${cache_root}/victorialogs/${victorialogs_version}.lock"
if ! flock -n 9; then
    log "another build of VictoriaLogs ${victorialogs_version} is running, so this one waits for it"
    flock 9
fi
if [[ -x "${victorialogs_bin}" ]]; then
    printf '%s\n' "${victorialogs_bin}"
    exit 0
fi

# Only the holder of the lock creates work dirs for this version, so any that
# exist now were left by a build that was killed (SIGKILL skips the trap).
rm -rf "${cache_root}/victorialogs/.build-${victorialogs_version}-"*

work_dir="$(mktemp -d "${cache_root}/victorialogs/.build-${victorialogs_version}-XXXXXX")"
cleanup() {
    rm -rf "${work_dir}"
}
trap cleanup EXIT
# Turn Ctrl-C and kill into a normal exit, so that the EXIT trap runs.
trap 'exit 130' INT
trap 'exit 143' TERM

build_dir="${work_dir}/build"
mkdir -p "${build_dir}"
log "building ${victorialogs_package}@${victorialogs_version} in ${build_dir}"
start_seconds="${SECONDS}"

# A throwaway module that requires VictoriaLogs, so that `go build` can build
# its main package from the module cache. Replace directives in VictoriaLogs'
# own go.mod do not apply to a dependency, so this build uses the versions
# that its require lines name.
(
    cd "${build_dir}"
    go mod init otel-mlbucket.invalid/victorialogs-build >&2
    go get "${victorialogs_package}@${victorialogs_version}" >&2
    # CGO_ENABLED=0 gives a static binary, as in upstream's "pure" builds.
    # buildinfo.Version is what `victoria-logs -version` and the /metrics
    # vm_app_version series report.
    TMPDIR="${work_dir}" CGO_ENABLED=0 go build -trimpath \
        -ldflags "-s -w -X github.com/VictoriaMetrics/VictoriaMetrics/lib/buildinfo.Version=victoria-logs-${victorialogs_version}" \
        -o victoria-logs "${victorialogs_package}" >&2
)

if [[ ! -x "${build_dir}/victoria-logs" ]]; then
    die "go build finished but ${build_dir}/victoria-logs is missing"
fi
"${build_dir}/victoria-logs" -version >&2 || die "the built victoria-logs failed to run '-version'"

# victorialogs_dir appears complete or not at all, because a rename within
# one file system is atomic. A leftover folder without a binary (its binary
# deleted by hand) is replaced.
if [[ -e "${victorialogs_dir}" ]]; then
    rm -rf "${victorialogs_dir}"
fi
mv -T "${build_dir}" "${victorialogs_dir}"
log "built ${victorialogs_bin} in $((SECONDS - start_seconds)) s"

printf '%s\n' "${victorialogs_bin}"
