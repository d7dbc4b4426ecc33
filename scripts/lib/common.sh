# Shared by scripts/*: the Swift toolchain on PATH, and Debian packages installed on demand.
# Sourced, not run.

export PATH="/opt/swift/usr/bin:$PATH"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# apt_install PKG... : installs the packages that are missing (root only; otherwise says how).
apt_install() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        die "missing Debian packages: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}"
    fi
    say "installing ${missing[*]}"
    local opts=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
    # A fresh machine has no package lists yet; an old list may name versions the mirror dropped.
    if ! DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" install -y --no-install-recommends "${missing[@]}" >/tmp/netrelayd-apt.log 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" update >>/tmp/netrelayd-apt.log 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" install -y --no-install-recommends "${missing[@]}" >>/tmp/netrelayd-apt.log 2>&1 ||
            { tail -20 /tmp/netrelayd-apt.log >&2; die "apt-get install ${missing[*]} failed (log: /tmp/netrelayd-apt.log)"; }
    fi
}

# What building needs: libsystemd's headers and pkg-config (the CSystemd module uses both).
ensure_build_deps() {
    command -v swift >/dev/null || die "swift not found; netrelayd needs the Swift 6 toolchain at /opt/swift (or on PATH)"
    apt_install libsystemd-dev pkg-config
}

# What the tests need on top: ip (network namespaces), ping, python3 (test clients),
# prometheus (a real scraper, and promtool to check /metrics and the alert rules).
ensure_test_deps() {
    apt_install iproute2 iputils-ping python3 prometheus
}
