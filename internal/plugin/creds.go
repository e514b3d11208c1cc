package plugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
)

// Environment variables for credentials on a machine without the operator.
// The secret key is never a flag value: it would end up in shell history
// and in every process listing.
const (
	EnvSDKAppID        = "IM_SDKAPPID"
	EnvSecretKey       = "IM_SECRET_KEY"
	EnvAdminIdentifier = "IM_ADMIN_IDENTIFIER"
	EnvEndpoint        = "IM_ENDPOINT"
)

// credentials are what a REST call needs. secretKey never leaves this
// process except inside the UserSig the tim client makes from it.
type credentials struct {
	sdkAppID  uint64
	secretKey string
	admin     string
	endpoint  string
	// source says where they came from, for messages (never the key).
	source string
	// appRef is the ChatApp the groups belong to ("" for the default
	// app): the manifests name it, and declared groups are its own.
	appRef string
}

// credFlags are import's credential flags.
type credFlags struct {
	app               string
	sdkAppID          string
	secretKeyFile     string
	adminIdentifier   string
	endpoint          string
	operatorNamespace string
}

// resolve picks the credentials: a ChatApp's (--app), else flags and
// environment when an SDKAppID is given there, else the default app as the
// chart installs it.
func (f *credFlags) resolve(ctx context.Context, getenv func(string) string, cluster func() (client.Client, error)) (credentials, error) {
	if f.app != "" {
		if f.sdkAppID != "" || f.secretKeyFile != "" {
			return credentials{}, errors.New("--app takes the ChatApp's credentials from the cluster: drop --sdkappid and --secret-key-file")
		}
		c, err := cluster()
		if err != nil {
			return credentials{}, err
		}
		return fromChatApp(ctx, c, f.app, f.operatorNamespace)
	}
	appID := firstNonEmpty(f.sdkAppID, getenv(EnvSDKAppID))
	if appID != "" {
		return f.fromFlags(appID, getenv)
	}
	if f.secretKeyFile != "" {
		return credentials{}, fmt.Errorf("--secret-key-file needs --sdkappid (or %s)", EnvSDKAppID)
	}
	c, err := cluster()
	if err != nil {
		return credentials{}, err
	}
	cr, err := fromDeployment(ctx, c, f.operatorNamespace)
	if err != nil {
		return credentials{}, err
	}
	// Flags still override what the Deployment says, e.g. a backup endpoint.
	if f.adminIdentifier != "" {
		cr.admin = f.adminIdentifier
	}
	if f.endpoint != "" {
		cr.endpoint = f.endpoint
	}
	return cr, nil
}

func (f *credFlags) fromFlags(appID string, getenv func(string) string) (credentials, error) {
	id, err := parseSDKAppID(appID)
	if err != nil {
		return credentials{}, fmt.Errorf("--sdkappid (or %s): %w", EnvSDKAppID, err)
	}
	cr := credentials{
		sdkAppID: id,
		admin:    firstNonEmpty(f.adminIdentifier, getenv(EnvAdminIdentifier), tim.DefaultAdminIdentifier),
		endpoint: firstNonEmpty(f.endpoint, getenv(EnvEndpoint), tim.DefaultEndpoint),
		source:   "flags",
	}
	switch {
	case f.secretKeyFile != "":
		b, err := os.ReadFile(f.secretKeyFile)
		if err != nil {
			return credentials{}, fmt.Errorf("--secret-key-file: %w", err)
		}
		// As the operator reads its --secret-key-file.
		cr.secretKey = tim.SecretKeyFrom(b)
		if cr.secretKey == "" {
			return credentials{}, fmt.Errorf("--secret-key-file: %s is empty", f.secretKeyFile)
		}
	case getenv(EnvSecretKey) != "":
		cr.secretKey = strings.TrimSpace(getenv(EnvSecretKey))
	default:
		return credentials{}, fmt.Errorf("--sdkappid is set but no secret key: give --secret-key-file or set %s", EnvSecretKey)
	}
	return cr, nil
}

func parseSDKAppID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("%q is not a positive integer", s)
	}
	return id, nil
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// fromDeployment reads the default app's credentials from the cluster as
// the chart (or config/default) installs the operator: the manager
// container's --sdkappid, --admin-identifier and --im-endpoint arguments,
// and the key from the Secret mounted where --secret-key-file points.
// Following the mount rather than guessing the Secret's name finds it
// whatever im.existingSecret or the release name is.
func fromDeployment(ctx context.Context, c client.Client, namespace string) (credentials, error) {
	var list appsv1.DeploymentList
	var opts []client.ListOption
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	if err := c.List(ctx, &list, opts...); err != nil {
		return credentials{}, fmt.Errorf("looking for the operator's Deployment: %w", clusterErr(err))
	}
	type found struct {
		dep  *appsv1.Deployment
		ctr  *corev1.Container
		args map[string]string
	}
	var hits []found
	for i := range list.Items {
		d := &list.Items[i]
		for j := range d.Spec.Template.Spec.Containers {
			ctr := &d.Spec.Template.Spec.Containers[j]
			args := parseArgs(append(append([]string{}, ctr.Command...), ctr.Args...))
			if _, ok := args["sdkappid"]; ok {
				if _, ok := args["secret-key-file"]; ok {
					hits = append(hits, found{d, ctr, args})
				}
			}
		}
	}
	where := "in any namespace"
	if namespace != "" {
		where = "in namespace " + namespace
	}
	switch len(hits) {
	case 0:
		return credentials{}, fmt.Errorf("no chatgroup-operator Deployment with --sdkappid and --secret-key-file found %s; "+
			"point at it with --operator-namespace, import a ChatApp's groups with --app, or give credentials with --sdkappid and %s", where, EnvSecretKey)
	case 1:
	default:
		var names []string
		for _, h := range hits {
			names = append(names, h.dep.Namespace+"/"+h.dep.Name)
		}
		return credentials{}, fmt.Errorf("several chatgroup-operator Deployments found (%s); choose one with --operator-namespace", strings.Join(names, ", "))
	}
	h := hits[0]
	depName := h.dep.Namespace + "/" + h.dep.Name
	id, err := parseSDKAppID(h.args["sdkappid"])
	if err != nil {
		return credentials{}, fmt.Errorf("operator Deployment %s: --sdkappid %w", depName, err)
	}
	secretName, key, err := mountedSecretKey(h.dep, h.ctr, h.args["secret-key-file"])
	if err != nil {
		return credentials{}, fmt.Errorf("operator Deployment %s: %w", depName, err)
	}
	var sec corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: h.dep.Namespace, Name: secretName}, &sec); err != nil {
		return credentials{}, fmt.Errorf("reading Secret %s/%s of Deployment %s: %w", h.dep.Namespace, secretName, depName, clusterErr(err))
	}
	secret := tim.SecretKeyFrom(sec.Data[key])
	if secret == "" {
		return credentials{}, fmt.Errorf("the Secret %s/%s has no key %q (or it is empty)", h.dep.Namespace, secretName, key)
	}
	return credentials{
		sdkAppID:  id,
		secretKey: secret,
		admin:     firstNonEmpty(h.args["admin-identifier"], tim.DefaultAdminIdentifier),
		endpoint:  firstNonEmpty(h.args["im-endpoint"], tim.DefaultEndpoint),
		source:    "Deployment " + depName,
	}, nil
}

// parseArgs reads --name=value and --name value arguments.
func parseArgs(args []string) map[string]string {
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") {
			continue
		}
		name, val, ok := strings.Cut(a[2:], "=")
		if !ok && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			val = args[i+1]
			i++
		}
		out[name] = val
	}
	return out
}

// mountedSecretKey finds the Secret and key behind a file path in ctr.
func mountedSecretKey(dep *appsv1.Deployment, ctr *corev1.Container, file string) (secret, key string, err error) {
	file = path.Clean(file)
	for _, m := range ctr.VolumeMounts {
		dir := path.Clean(m.MountPath)
		if !strings.HasPrefix(file, dir+"/") {
			continue
		}
		rel := strings.TrimPrefix(file, dir+"/")
		if m.SubPath != "" {
			rel = path.Join(m.SubPath, rel)
		}
		for _, v := range dep.Spec.Template.Spec.Volumes {
			if v.Name != m.Name {
				continue
			}
			if v.Secret == nil {
				return "", "", fmt.Errorf("--secret-key-file %s is not on a Secret volume", file)
			}
			key = rel
			for _, it := range v.Secret.Items {
				if path.Clean(it.Path) == rel {
					key = it.Key
				}
			}
			return v.Secret.SecretName, key, nil
		}
	}
	return "", "", fmt.Errorf("--secret-key-file %s is not on a mounted Secret", file)
}

// clusterErr turns the API server's answers into causes a user acts on.
func clusterErr(err error) error {
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("forbidden by the cluster's RBAC (%w)", err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("the cluster refused the kubeconfig's credentials (%w)", err)
	}
	return err
}

// fromChatApp reads a ChatApp's credentials as the operator does: the
// ChatApp's SDKAppID, endpoint and admin, and the secretKey of its Secret
// in the operator's namespace (--operator-namespace, or the namespace of
// the operator's Deployment).
func fromChatApp(ctx context.Context, c client.Client, name, namespace string) (credentials, error) {
	var ca imv1alpha1.ChatApp
	if err := c.Get(ctx, types.NamespacedName{Name: name}, &ca); err != nil {
		switch {
		case apierrors.IsNotFound(err):
			return credentials{}, fmt.Errorf("--app: no ChatApp named %q in the cluster (kubectl get chatapps lists them)", name)
		case meta.IsNoMatchError(err):
			return credentials{}, errors.New("--app: the cluster has no ChatApp resource; install an operator version with ChatApps, or give the app's credentials with --sdkappid and " + EnvSecretKey)
		}
		return credentials{}, fmt.Errorf("reading ChatApp %s: %w", name, clusterErr(err))
	}
	if namespace == "" {
		ns, err := operatorNamespace(ctx, c)
		if err != nil {
			return credentials{}, err
		}
		namespace = ns
	}
	ref := types.NamespacedName{Namespace: namespace, Name: ca.Spec.CredentialsSecretRef.Name}
	var sec corev1.Secret
	if err := c.Get(ctx, ref, &sec); err != nil {
		return credentials{}, fmt.Errorf("reading Secret %s of ChatApp %s: %w", ref, name, clusterErr(err))
	}
	key := tim.SecretKeyFrom(sec.Data[imv1alpha1.SecretKeySecretKey])
	if key == "" {
		return credentials{}, fmt.Errorf("the Secret %s of ChatApp %s has no key %q (or it is empty)", ref, name, imv1alpha1.SecretKeySecretKey)
	}
	if ca.Spec.SDKAppID <= 0 {
		return credentials{}, fmt.Errorf("ChatApp %s has no valid sdkAppID", name)
	}
	return credentials{
		sdkAppID:  uint64(ca.Spec.SDKAppID),
		secretKey: key,
		admin:     firstNonEmpty(ca.Spec.AdminIdentifier, tim.DefaultAdminIdentifier),
		endpoint:  firstNonEmpty(ca.Spec.Endpoint, tim.DefaultEndpoint),
		source:    "ChatApp " + name,
		appRef:    name,
	}, nil
}

// managerFlags are arguments only the operator's manager takes: a
// Deployment running a container with one of them is the operator.
var managerFlags = []string{"webhook-bind-address", "max-destroys-per-hour", "sdkappid", "operator-namespace"}

// operatorNamespace finds the operator's namespace from its Deployment:
// its --operator-namespace argument, else the Deployment's namespace.
func operatorNamespace(ctx context.Context, c client.Client) (string, error) {
	var list appsv1.DeploymentList
	if err := c.List(ctx, &list); err != nil {
		return "", fmt.Errorf("looking for the operator's Deployment: %w (or give --operator-namespace)", clusterErr(err))
	}
	found := map[string]bool{}
	for _, d := range list.Items {
		for _, ctr := range d.Spec.Template.Spec.Containers {
			args := parseArgs(append(append([]string{}, ctr.Command...), ctr.Args...))
			for _, f := range managerFlags {
				if _, ok := args[f]; ok {
					found[firstNonEmpty(args["operator-namespace"], d.Namespace)] = true
					break
				}
			}
		}
	}
	names := make([]string, 0, len(found))
	for ns := range found {
		names = append(names, ns)
	}
	sort.Strings(names)
	switch len(names) {
	case 1:
		return names[0], nil
	case 0:
		return "", errors.New("no chatgroup-operator Deployment found: give its namespace with --operator-namespace")
	default:
		return "", fmt.Errorf("chatgroup-operator Deployments in several namespaces (%s): choose one with --operator-namespace", strings.Join(names, ", "))
	}
}
