#!/usr/bin/env bash
# Tears down the cluster hack/cluster/up.sh started and puts the host back as
# up.sh found it: every daemon stopped by the PID up.sh recorded, the pods'
# processes (found in the kubepods cgroups) killed, mounts under the run
# directory and the pods' network namespaces unmounted, the cni0 and node
# bridges deleted, the KUBE-* and CNI-* iptables chains removed, the kubepods
# cgroups removed, the kernel settings (ip_forward, ...) restored, and the host
# directories the daemons created removed. Idempotent, best effort: each step
# runs whatever the previous ones did, so it is safe after a failed or half
# bring-up, and twice. Keeps CLUSTER_DIR/logs.
set -uo pipefail
source "$(dirname "$0")/common.sh"

[[ $(id -u) -eq 0 ]] || { echo "cluster: must run as root" >&2; exit 1; }
if [[ ! -d $CLUSTER_DIR ]]; then
	log "nothing to tear down ($CLUSTER_DIR does not exist)"
	exit 0
fi
t0=$SECONDS

# stop <name> [grace seconds]: SIGTERM the recorded PID, again after the grace
# (kube-apiserver can hang in graceful shutdown), then SIGKILL.
stop() {
	local name=$1 grace=${2:-10} pid i
	pid=$(pid_alive "$name") || { rm -f "$PIDS/$name.pid"; return 0; }
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < grace * 10; i++)); do
		[[ -d /proc/$pid ]] || break
		((i == grace * 5)) && kill -TERM "$pid" 2>/dev/null
		sleep 0.1
	done
	if [[ -d /proc/$pid ]]; then
		log "$name (pid $pid) ignored SIGTERM; killing"
		kill -KILL "$pid" 2>/dev/null
		sleep 0.2
	fi
	rm -f "$PIDS/$name.pid"
}

# 1. Let kubelet stop the pods itself (CNI DEL frees their addresses) while the
#    control plane is up; bounded, the forced steps below do the rest.
if pid_alive kube-apiserver >/dev/null && pid_alive kubelet >/dev/null; then
	kubectl_ delete deployments,replicasets,daemonsets,statefulsets,jobs --all -A --wait=false --request-timeout=10s >/dev/null 2>&1
	kubectl_ delete pods --all -A --grace-period=1 --wait=false --request-timeout=10s >/dev/null 2>&1
	for ((i = 0; i < 40; i++)); do
		[[ -z $(kubectl_ get pods -A -o name --request-timeout=5s 2>/dev/null) ]] && break
		sleep 0.5
	done
fi

# 2. kubelet first, so that nothing restarts containers; then the containers.
stop kubelet
if pid_alive containerd >/dev/null; then
	for t in $(ctr_ -n k8s.io tasks ls -q 2>/dev/null); do
		ctr_ -n k8s.io tasks kill -a -s SIGKILL "$t" >/dev/null 2>&1
	done
	sleep 0.5
	for t in $(ctr_ -n k8s.io tasks ls -q 2>/dev/null); do
		ctr_ -n k8s.io tasks delete -f "$t" >/dev/null 2>&1
	done
fi

# 3. kube-proxy, then its own cleanup of its rules.
stop kube-proxy
if [[ -x $K8S_BIN/kube-proxy ]] && command -v iptables >/dev/null; then
	timeout 30 "$K8S_BIN/kube-proxy" --cleanup --proxy-mode=iptables >>"$LOGS/kube-proxy-cleanup.log" 2>&1
fi

# 4. The control plane: kube-apiserver before etcd.
stop kube-scheduler
stop kube-controller-manager
stop kube-apiserver 20
stop etcd
stop containerd

# 5. Leftover processes we started indirectly: the shims of our containerd
#    (their command line names its socket), then whatever is still in the
#    kubepods cgroups (the pods' processes).
for p in /proc/[0-9]*; do
	[[ $(basename "$(readlink "$p/exe" 2>/dev/null)") == containerd-shim-runc-v2 ]] || continue
	tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "$CONTAINERD_SOCK" && kill -KILL "${p#/proc/}" 2>/dev/null
done
own_kubepods() { # the kubepods cgroup directories up.sh did not find
	local c
	for c in /sys/fs/cgroup/*/; do
		[[ -d $c/kubepods ]] || continue
		grep -qxF "$c" "$HOST_STATE/kubepods-existing" 2>/dev/null && continue
		echo "${c}kubepods"
	done
}
for cg in $(own_kubepods); do
	find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null
done | sort -un | while read -r pid; do kill -KILL "$pid" 2>/dev/null; done
sleep 0.3

# 6. Mounts: everything under the run directory (deepest first), then the
#    pods' network namespaces.
findmnt -rn -o TARGET | awk -v d="$CLUSTER_DIR/" 'index($0, d) == 1' | sort -r | while read -r m; do
	umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
done
if [[ -d /run/netns ]]; then
	for ns in /run/netns/*; do
		[[ -e $ns ]] || continue
		grep -qxF "$(basename "$ns")" "$HOST_STATE/netns" 2>/dev/null && continue
		umount "$ns" 2>/dev/null || umount -l "$ns" 2>/dev/null
		rm -f "$ns"
	done
	if [[ ! -e $HOST_STATE/netns-mountpoint ]] && mountpoint -q /run/netns; then
		umount /run/netns 2>/dev/null || umount -l /run/netns 2>/dev/null
	fi
fi

# 7. Links: the pods' veths on cni0, cni0 itself, the node bridge.
if [[ ! -e $HOST_STATE/pod-bridge-existed ]] && ip -o link show "$POD_BRIDGE" >/dev/null 2>&1; then
	for v in $(ip -o link show master "$POD_BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
		ip link del "$v" 2>/dev/null
	done
	ip link del "$POD_BRIDGE" 2>/dev/null
fi
ip -o link show "$NODE_BRIDGE" >/dev/null 2>&1 && ip link del "$NODE_BRIDGE"

# 8. iptables: rules jumping to KUBE-*/CNI-* chains, then the chains.
for ipt in iptables ip6tables; do
	command -v $ipt >/dev/null || continue
	for table in filter nat mangle raw; do
		rules=$($ipt -w -t $table -S 2>/dev/null) || continue
		grep -E -- '^-A ' <<<"$rules" | grep -vE -- '^-A (KUBE|CNI)-' | grep -E -- '-j (KUBE|CNI)-' |
			while read -r rule; do
				eval "$ipt -w -t $table -D ${rule#-A }" 2>/dev/null
			done
		chains=$(grep -oE -- '^-N (KUBE|CNI)-[^ ]+' <<<"$rules" | cut -d' ' -f2)
		for c in $chains; do $ipt -w -t $table -F "$c" 2>/dev/null; done
		for c in $chains; do $ipt -w -t $table -X "$c" 2>/dev/null; done
	done
done

# iptables-nft created the nftables tables behind those chains; remove the
# ones that were not there before and are now empty.
if [[ -f $HOST_STATE/nft-tables ]] && command -v nft >/dev/null; then
	nft_tables | while read -r family name; do
		grep -qxF "$family $name" "$HOST_STATE/nft-tables" && continue
		if nft_table_empty "$family" "$name"; then
			nft delete table "$family" "$name"
		else
			log "warning: nftables table $family $name still has rules; left in place"
		fi
	done
fi

# 9. The kubepods cgroups, deepest first.
for cg in $(own_kubepods); do
	find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
	[[ -d $cg ]] && log "warning: could not remove cgroup $cg"
done

# 10. Kernel settings.
if [[ -f $HOST_STATE/sysctls ]]; then
	while IFS='=' read -r key value; do
		[[ -f /proc/sys/$key && $(<"/proc/sys/$key") != "$value" ]] && echo "$value" >"/proc/sys/$key" 2>/dev/null
	done <"$HOST_STATE/sysctls"
fi

# 11. Host directories the daemons created.
if [[ -f $HOST_STATE/existing-paths ]]; then
	for p in "${HOST_PATHS[@]}"; do
		[[ -e $p ]] || continue
		grep -qxF "$p" "$HOST_STATE/existing-paths" && continue
		if findmnt -rn -o TARGET | grep -q "^$p"; then
			log "warning: mounts remain under $p; not removing it"
			continue
		fi
		rm -rf "$p"
	done
fi

# 12. The run directory, less its logs.
leftover=$(findmnt -rn -o TARGET | awk -v d="$CLUSTER_DIR/" 'index($0, d) == 1')
if [[ -z $leftover ]]; then
	find "$CLUSTER_DIR" -mindepth 1 -maxdepth 1 ! -name logs ! -name bringup-seconds -exec rm -rf {} +
else
	log "warning: mounts remain under $CLUSTER_DIR: $leftover"
fi
log "down in $((SECONDS - t0))s"
