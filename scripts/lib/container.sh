#!/usr/bin/env bash
# container.sh - a throw-away Debian container whose PID 1 is a real systemd, for
# testing netrelayd as a unit on hosts whose own PID 1 is not systemd (CI, VMs).
#
#   container.sh setup        install systemd-container + debootstrap on the host, build the
#                             rootfs if it is missing (idempotent; about 1 min the first time)
#   container.sh up           boot the container in the background; wait until systemd is running
#   container.sh exec CMD...  run CMD inside (all namespaces, clean env); stdin/stdout/exit code pass
#   container.sh netns CMD... run a HOST command inside the container's network namespace only
#   container.sh push DIR     copy the tree DIR into the container's / (tar through nsenter)
#   container.sh journal      print the container's whole journal (do it before `down`)
#   container.sh status       up or down
#   container.sh down         power off (falls back to SIGTERM, then SIGKILL, by recorded PID only)
#   container.sh clean        down, then delete the rootfs and state
#
# It can also be sourced: the ct_* functions are then available (set CT_* variables first).
#
# How (and why) — this host has no systemd as PID 1, no dbus, no machined:
#  * systemd-nspawn --boot --register=no --keep-unit: without both flags nspawn asks the (missing)
#    host bus for a scope and fails with "Failed to open system bus".
#  * the container is driven with nsenter into its PID 1's namespaces (machinectl/systemctl -M
#    need machined on the host).
#  * --private-network: own network namespace holding only lo, so the test's loopback ports
#    never collide with the host's.
#  * --volatile=overlay: the rootfs stays pristine; every boot starts clean and changes vanish at
#    down (so is the journal: dump it before).
#  * --system-call-filter=bpf: without it nspawn's seccomp filter blocks bpf() and the container's
#    systemd silently ignores IPAddressDeny=/IPAddressAllow=.
#  * minbase lacks /bin/kill (used by ExecReload=): procps brings it.
#  * the launcher moves itself into a cgroup of its own (name=systemd and cgroup2 trees) so two
#    containers never share nspawn's "payload" cgroup.
# The apt mirror is read from the host's apt configuration at run time.
set -euo pipefail

CT_DIR=${CT_DIR:-/tmp/netrelayd-systemd}          # state: rootfs, pid files, console log
CT_ROOTFS=${CT_ROOTFS:-$CT_DIR/rootfs}
CT_NAME=${CT_NAME:-netrelayd-test}
CT_SUITE=${CT_SUITE:-bookworm}
# man-db: `man -w` after installing the .deb; init-system-helpers: deb-systemd-helper/-invoke,
# which debhelper's maintainer scripts call (the container has no network to fetch them later)
CT_PACKAGES=${CT_PACKAGES:-systemd,dbus,procps,iproute2,man-db,init-system-helpers}
CT_BOOT_TIMEOUT=${CT_BOOT_TIMEOUT:-90}
CT_DOWN_TIMEOUT=${CT_DOWN_TIMEOUT:-45}
CT_EXTRA_ARGS=${CT_EXTRA_ARGS:-}                   # more nspawn args, word-split
CT_RUN=$CT_DIR/run
CT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CT_SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")

ct_log() { printf 'container: %s\n' "$*" >&2; }
ct_die() { ct_log "ERROR: $*"; exit 1; }

# ------------------------------------------------------------------ mirror
# The first deb source of the host whose Suites contain the plain suite name (deb822 files
# first, then the one-line format). Nothing is hard-coded: CI uses whatever mirror apt uses.
ct_mirror() {
    local m=""
    if [ -n "${CT_MIRROR:-}" ]; then echo "$CT_MIRROR"; return 0; fi
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        m=$(awk -v suite="$CT_SUITE" '
            function flush() { if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && uri != "" && out == "") out = uri
                               types = ""; suites = ""; uri = "" }
            /^[ \t]*$/ { flush(); next }
            /^[ \t]*#/ { next }
            /^Types:/  { sub(/^Types:[ \t]*/, ""); types = $0 }
            /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
            /^URIs:/   { sub(/^URIs:[ \t]*/, ""); split($0, u, /[ \t]+/); uri = u[1] }
            END { flush(); print out }' "$f")
        [ -n "$m" ] && break
    done
    if [ -z "$m" ] && [ -r /etc/apt/sources.list ]; then
        m=$(awk -v suite="$CT_SUITE" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) while ($i !~ /\]$/) i++; if ($2 ~ /^\[/) i++;
                                      if ($(i + 1) == suite) { print $i; exit } }' /etc/apt/sources.list)
    fi
    [ -n "$m" ] || return 1
    echo "$m"
}

# ------------------------------------------------------------------ pids
ct_nspawn_pid() {  # the nspawn PID, if the recorded one is alive and is ours
    local p
    p=$(cat "$CT_RUN/nspawn.pid" 2>/dev/null) || return 1
    [ -n "$p" ] && [ -r "/proc/$p/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- "systemd-nspawn .*-D $CT_ROOTFS " || return 1
    echo "$p"
}
ct_ppid() {        # parent PID from /proc/PID/stat (comm may contain spaces)
    local s
    { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
    s=${s##*) }; s=${s#* }
    echo "${s%% *}"
}
ct_leader_pid() {  # host PID of the container's PID 1: nspawn's child named systemd, other pid ns
    local np p d
    np=$(ct_nspawn_pid) || return 1
    p=$(cat "$CT_RUN/leader.pid" 2>/dev/null || true)
    if [ -n "$p" ] && [ "$(ct_ppid "$p" 2>/dev/null)" = "$np" ]; then echo "$p"; return 0; fi
    for d in /proc/[0-9]*; do
        p=${d#/proc/}
        [ "$(ct_ppid "$p" 2>/dev/null)" = "$np" ] || continue
        [ "$(cat "/proc/$p/comm" 2>/dev/null)" = systemd ] || continue
        [ "$(readlink "/proc/$p/ns/pid" 2>/dev/null)" != "$(readlink /proc/self/ns/pid)" ] || continue
        echo "$p" >"$CT_RUN/leader.pid"; echo "$p"; return 0
    done
    return 1
}

ct_exec() {        # CMD inside the container: all namespaces, clean environment
    local l
    l=$(ct_leader_pid) || ct_die "container is not running (container.sh up)"
    nsenter --target "$l" --all -- /usr/bin/env -i PATH="$CT_PATH" HOME=/root LANG=C.UTF-8 TERM=dumb \
        SYSTEMD_PAGER=cat SYSTEMD_COLORS=0 "$@"
}
ct_netns() {       # a host binary in the container's network namespace only
    local l
    l=$(ct_leader_pid) || ct_die "container is not running (container.sh up)"
    nsenter --target "$l" --net -- "$@"
}
ct_push() {        # copy the contents of a host directory into the container's /
    [ -d "$1" ] || ct_die "push: $1 is not a directory"
    tar -C "$1" --owner=0 --group=0 -cf - . | ct_exec tar -C / --no-overwrite-dir -xf -
}
ct_journal() { ct_exec journalctl --no-pager -o short-monotonic -b "$@"; }

# ------------------------------------------------------------------ setup
ct_setup() {
    local need=() t0 try tmp
    mkdir -p "$CT_DIR" "$CT_RUN"
    command -v systemd-nspawn >/dev/null || need+=(systemd-container)
    command -v debootstrap >/dev/null || need+=(debootstrap)
    command -v nsenter >/dev/null || need+=(util-linux)
    if [ ${#need[@]} -gt 0 ]; then
        ct_log "installing host packages: ${need[*]} (apt-get update first)"
        # --no-install-recommends keeps libnss-mymachines out of nsswitch.conf
        { apt-get -o DPkg::Lock::Timeout=600 update &&
          DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${need[@]}"; } \
            >"$CT_DIR/apt.log" 2>&1 || { tail -20 "$CT_DIR/apt.log" >&2; ct_die "apt-get failed (log: $CT_DIR/apt.log)"; }
    fi
    if [ -f "$CT_ROOTFS/.ready" ] && grep -qF "packages $CT_PACKAGES," "$CT_ROOTFS/.ready"; then
        ct_log "rootfs present: $(cat "$CT_ROOTFS/.ready")"
        return 0
    fi
    [ -f "$CT_ROOTFS/.ready" ] && ct_log "rootfs was built with other packages ($(cat "$CT_ROOTFS/.ready")): rebuilding"
    ct_nspawn_pid >/dev/null && ct_die "a container runs on $CT_ROOTFS; container.sh down first"
    local mirror
    mirror=$(ct_mirror) || ct_die "no apt source for suite $CT_SUITE found in /etc/apt (set CT_MIRROR)"
    tmp=$CT_ROOTFS.partial
    rm -rf --one-file-system "$tmp" "$CT_ROOTFS"
    ct_log "debootstrap $CT_SUITE minbase + $CT_PACKAGES (about 40-60 s)"
    t0=$(date +%s)
    for try in 1 2; do
        debootstrap --variant=minbase --include="$CT_PACKAGES" "$CT_SUITE" "$tmp" "$mirror" \
            >"$CT_DIR/debootstrap.log" 2>&1 && break
        tail -20 "$CT_DIR/debootstrap.log" >&2
        rm -rf --one-file-system "$tmp"
        [ $try = 2 ] && ct_die "debootstrap failed twice (log: $CT_DIR/debootstrap.log)"
        ct_log "debootstrap failed, retrying once"
    done
    echo "$CT_NAME" >"$tmp/etc/hostname"
    # nothing periodic may fire during a test
    for u in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
             e2scrub_reap.service systemd-tmpfiles-clean.timer; do
        ln -sf /dev/null "$tmp/etc/systemd/system/$u"
    done
    rm -rf "$tmp"/var/cache/apt/*.bin "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*_Packages
    echo "$CT_SUITE systemd $(chroot "$tmp" dpkg-query -W -f='${Version}' systemd), packages $CT_PACKAGES, built $(date -u +%FT%TZ) in $(( $(date +%s) - t0 )) s" \
        >"$tmp/.ready"
    mv "$tmp" "$CT_ROOTFS"
    ct_log "rootfs ready: $(cat "$CT_ROOTFS/.ready")"
}

# ------------------------------------------------------------------ cgroups
ct_cgroup_dirs() { # one dir per hierarchy nspawn uses (cgroup2 and name=systemd; no controllers there)
    local id ctrl path mnt
    while IFS=: read -r id ctrl path; do
        if [ "$id" = 0 ]; then mnt=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
        elif [ "$ctrl" = name=systemd ]; then mnt=$(awk '$3 == "cgroup" && $4 ~ /name=systemd/ { print $2; exit }' /proc/self/mounts)
        else continue; fi
        [ -n "$mnt" ] && echo "$mnt${path%/}/ct-$CT_NAME"
    done </proc/self/cgroup
}
ct__launch() {     # runs in the background: own cgroup, record PID, become nspawn
    local d
    for d in $(ct_cgroup_dirs); do
        mkdir -p "$d" && echo $$ >"$d/cgroup.procs" && echo "$d" >>"$CT_RUN/cgroups" || ct_log "WARNING: cannot use cgroup $d"
    done
    echo $$ >"$CT_RUN/nspawn.pid"
    exec systemd-nspawn "$@"
}
ct_cgroup_cleanup() {
    local d
    [ -f "$CT_RUN/cgroups" ] || return 0
    for d in $(sort -u "$CT_RUN/cgroups"); do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
        [ -d "$d" ] && ct_log "WARNING: cgroup $d still in use"
    done
    rm -f "$CT_RUN/cgroups"
}

# ------------------------------------------------------------------ up / down
ct_up() {
    [ -f "$CT_ROOTFS/.ready" ] || ct_die "no rootfs at $CT_ROOTFS (container.sh setup)"
    mkdir -p "$CT_RUN"
    if ct_nspawn_pid >/dev/null; then ct_log "already up"; return 0; fi
    local args=(-D "$CT_ROOTFS" --boot --machine="$CT_NAME" --register=no --keep-unit
                --link-journal=no --console=read-only --private-network --volatile=overlay
                --system-call-filter=bpf)
    # shellcheck disable=SC2206
    [ -n "$CT_EXTRA_ARGS" ] && args+=($CT_EXTRA_ARGS)
    local np l s="" i t0
    t0=$(date +%s%N)
    rm -f "$CT_RUN/nspawn.pid" "$CT_RUN/leader.pid"
    SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 setsid "$CT_SELF" _launch "${args[@]}" </dev/null >"$CT_RUN/console.log" 2>&1 &
    for ((i = 0; i < 50; i++)); do [ -s "$CT_RUN/nspawn.pid" ] && break; sleep 0.1; done
    np=$(cat "$CT_RUN/nspawn.pid" 2>/dev/null) || { cat "$CT_RUN/console.log" >&2; ct_die "systemd-nspawn did not start"; }
    for ((i = 0; i < CT_BOOT_TIMEOUT * 10; i++)); do
        if ! kill -0 "$np" 2>/dev/null; then
            tail -30 "$CT_RUN/console.log" >&2; rm -f "$CT_RUN/nspawn.pid"; ct_cgroup_cleanup
            ct_die "systemd-nspawn exited during boot"
        fi
        if l=$(ct_leader_pid); then
            s=$(nsenter --target "$l" --all -- /usr/bin/env -i PATH="$CT_PATH" systemctl is-system-running 2>/dev/null) || true
            case $s in running|degraded) break ;; esac
        fi
        sleep 0.1
    done
    case $s in
        running) ;;
        degraded) ct_log "WARNING: degraded:"; ct_exec systemctl --failed --no-legend >&2 || true ;;
        *) tail -30 "$CT_RUN/console.log" >&2; ct_die "not booted after ${CT_BOOT_TIMEOUT}s (state: ${s:-none})" ;;
    esac
    ct_log "up: nspawn $np, PID 1 = host PID $l, $s after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
}

ct_down() {
    local np l i
    if ! np=$(ct_nspawn_pid); then rm -f "$CT_RUN/nspawn.pid" "$CT_RUN/leader.pid"; ct_cgroup_cleanup; return 0; fi
    l=$(ct_leader_pid || true)
    [ -n "$l" ] && { ct_exec systemctl poweroff --no-block >/dev/null 2>&1 || ct_log "poweroff request failed"; }
    for ((i = 0; i < CT_DOWN_TIMEOUT * 10; i++)); do
        kill -0 "$np" 2>/dev/null || break
        [ "$i" = 150 ] && { ct_log "still up after 15 s: SIGTERM to nspawn $np"; kill -TERM "$np" 2>/dev/null || true; }
        [ "$i" = 250 ] && { ct_log "still up after 25 s: second SIGTERM"; kill -TERM "$np" 2>/dev/null || true; }
        sleep 0.1
    done
    if kill -0 "$np" 2>/dev/null; then
        ct_log "forcing: SIGKILL to container PID 1 ($l) and nspawn ($np)"
        [ -n "$l" ] && kill -KILL "$l" 2>/dev/null || true
        sleep 1; kill -KILL "$np" 2>/dev/null || true
    fi
    for ((i = 0; i < 50; i++)); do kill -0 "$np" 2>/dev/null || break; sleep 0.1; done
    rm -f "$CT_RUN/nspawn.pid" "$CT_RUN/leader.pid"
    ct_cgroup_cleanup
    ct_log "down"
}

ct_status() {
    if ct_nspawn_pid >/dev/null; then
        echo "up: nspawn $(ct_nspawn_pid), PID 1 = host PID $(ct_leader_pid || echo '?'), $(ct_exec systemctl is-system-running 2>/dev/null || true)"
    else
        echo down; return 3
    fi
}

ct_clean() { ct_down; rm -rf --one-file-system "$CT_ROOTFS" "$CT_ROOTFS.partial" "$CT_RUN"; ct_log "removed $CT_ROOTFS"; }

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    [ "$(id -u)" = 0 ] || ct_die "must run as root"
    cmd=${1:-}; [ $# -gt 0 ] && shift
    case $cmd in
        setup) ct_setup ;;
        up) ct_up ;;
        down) ct_down ;;
        status) ct_status ;;
        exec) [ $# -gt 0 ] || ct_die "usage: container.sh exec CMD..."; ct_exec "$@" ;;
        netns) [ $# -gt 0 ] || ct_die "usage: container.sh netns CMD..."; ct_netns "$@" ;;
        push) [ $# = 1 ] || ct_die "usage: container.sh push DIR"; ct_push "$1" ;;
        journal) ct_journal "$@" ;;
        clean) ct_clean ;;
        mirror) ct_mirror ;;
        _launch) ct__launch "$@" ;;
        *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
    esac
fi
