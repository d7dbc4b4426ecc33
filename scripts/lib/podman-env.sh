# Podman as it works on these machines (sourced by scripts/image and scripts/test-image):
# rootful, runc and the cgroupfs manager (crun refuses this sandbox's cgroups and its rlimits;
# there is no systemd to manage cgroups), and no default ulimits (podman's default raises
# RLIMIT_NOFILE/NPROC above what the sandbox allows). The settings go into a containers.conf
# of our own, named by CONTAINERS_CONF, so the host's podman configuration is not touched.
NETRELAYD_PODMAN_DIR=${NETRELAYD_PODMAN_DIR:-/tmp/netrelayd-podman}
mkdir -p "$NETRELAYD_PODMAN_DIR"
cat >"$NETRELAYD_PODMAN_DIR/containers.conf" <<'CONF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_CONF=$NETRELAYD_PODMAN_DIR/containers.conf

podman_cmd() { podman --runtime runc --cgroup-manager=cgroupfs "$@"; }
