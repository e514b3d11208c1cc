#!/usr/bin/env bash
# Builds the control-plane binaries the tests run against (kube-apiserver,
# etcd, kubectl) from the Go module proxy into bin/k8s/<k8s>-etcd<etcd>/.
# setup-envtest cannot download release binaries on these machines, so we
# compile them; the directory is keyed by version, so a second run is free.
#
# Usage: hack/build-envtest.sh <output-dir>
# Progress goes to stderr, so that `make -s envtest-path` prints only the path.
set -euo pipefail

out=${1:?usage: build-envtest.sh <output-dir>}
here=$(cd "$(dirname "$0")" && pwd)
mod="$here/envtest"

source "$here/k8s-ldflags.sh"
mkdir -p "$out"
out=$(cd "$out" && pwd) # absolute: the build below runs inside the module
cd "$mod"

build() { # <name> <package>
	local name=$1 pkg=$2
	if [[ -x "$out/$name" ]]; then
		echo "envtest: $name already built in $out" >&2
		return
	fi
	echo "envtest: building $name from $pkg (a cold build takes several minutes) ..." >&2
	local start=$SECONDS
	CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/$name.tmp" "$pkg"
	mv "$out/$name.tmp" "$out/$name"
	echo "envtest: $name built in $((SECONDS - start))s" >&2
}

build etcd ./etcd
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build kubectl k8s.io/kubernetes/cmd/kubectl

# Mark the set as current for make, which compares it with hack/envtest/go.mod:
# the directory is keyed by version, so a go.mod edit that keeps the versions
# needs no rebuild.
touch "$out/kube-apiserver"
