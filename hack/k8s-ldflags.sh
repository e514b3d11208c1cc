# Sourced by the scripts that build Kubernetes binaries from hack/envtest:
# sets k8s_version and the ldflags that stamp it in. Without the stamp the
# binaries report v0.0.0, and clients that check the server version (helm,
# kubectl) misbehave.
# Needs: $mod, the hack/envtest module directory.
k8s_version=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$mod/go.mod")
major=$(echo "${k8s_version#v}" | cut -d. -f1)
minor=$(echo "${k8s_version#v}" | cut -d. -f2)
# shellcheck disable=SC2034 # used by the sourcing script
ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=${k8s_version} \
 -X k8s.io/component-base/version.gitMajor=${major} \
 -X k8s.io/component-base/version.gitMinor=${minor} \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/client-go/pkg/version.gitVersion=${k8s_version} \
 -X k8s.io/client-go/pkg/version.gitMajor=${major} \
 -X k8s.io/client-go/pkg/version.gitMinor=${minor}"
