package plugin

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
	"github.com/chatgroup-operator/chatgroup-operator/internal/groupname"
	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
)

// importOptions are import's flags.
type importOptions struct {
	r     *root
	creds credFlags
	// appRef is the ChatApp of the groups imported ("" for the default
	// app), set once the credentials are resolved.
	appRef          string
	policy          string
	groupType       string
	idPrefix        string
	limit           int
	includeDeclared bool
	outDir          string
	pageSize        uint64
	imQPS           float64
}

// defaultIMQPS leaves most of IM's 200 get_group_info calls per second to
// the operator running beside the import: 10,000 groups take 4 s of reads.
const defaultIMQPS = 50

// groupInfoFilter asks for the fields a manifest needs and no member lists.
var groupInfoFilter = &tim.ResponseFilter{GroupBaseInfoFilter: []string{
	"Type", "Name", "Introduction", "Notification", "FaceUrl", "Owner_Account",
}}

var groupTypes = []string{
	tim.GroupTypePrivate, tim.GroupTypePublic, tim.GroupTypeChatRoom, tim.GroupTypeAVChatRoom, tim.GroupTypeCommunity,
}

func newImportCommand(r *root) *cobra.Command {
	o := &importOptions{r: r}
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Write a ChatGroup manifest for every existing group of the app",
		Long: `import lists the app's groups with get_appid_group_list (at most one call a
second, as IM allows), reads them with get_group_info in batches of 50, and
writes one ChatGroup manifest per group: a multi-document YAML stream on
stdout, or one file per group with --out DIR. Groups already declared in the
cluster are skipped unless --include-declared is given.

Names follow the rule discovery uses, so a re-run produces the same names and,
for unchanged groups, byte-identical output.

Credentials come from the cluster (the default app, read from the operator's
Deployment and Secret as the chart installs them; or, with --app, a ChatApp
and its Secret, and the manifests then carry spec.appRef), or from flags and the
environment on a machine without the operator: --sdkappid (or IM_SDKAPPID),
--secret-key-file (or IM_SECRET_KEY), --admin-identifier (IM_ADMIN_IDENTIFIER),
--im-endpoint (IM_ENDPOINT).

With --policy Observe (default) the manifests only name the groups; the
operator never writes to them. With --policy Enforce the spec holds each
group's current name, introduction, notification and face URL, so applying
the manifests changes nothing in IM; later edits to the files are pushed.
Custom attributes are not imported (reading them costs one call per group):
a manifest leaves them unmanaged.`,
		Example: `  # Review the app's groups as Observe manifests in a Git directory
  kubectl chatgroup import --out chat/groups/

  # Enforce the current values of every Public group whose ID starts with "team-"
  kubectl chatgroup import --policy Enforce --type Public --id-prefix team- -n chat > groups.yaml

  # The groups of the ChatApp "staging", into the namespace allowed to use it
  kubectl chatgroup import --app staging -n staging --out chat/staging/

  # Without the operator installed
  IM_SECRET_KEY=$(cat key) kubectl chatgroup import --sdkappid 1400000000 \
      --im-endpoint https://adminapisgp.im.qcloud.com --include-declared`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return o.run(c.Context()) },
	}
	f := cmd.Flags()
	f.StringVar(&o.creds.app, "app", "", "ChatApp whose groups to import: its SDKAppID, endpoint and admin, and the secretKey of its Secret in the operator's namespace; the manifests name it in spec.appRef")
	f.StringVar(&o.creds.sdkAppID, "sdkappid", "", "the app's SDKAppID, to import without the operator (or "+EnvSDKAppID+")")
	f.StringVar(&o.creds.secretKeyFile, "secret-key-file", "", "file with the app's secret key (or "+EnvSecretKey+"); with --sdkappid")
	f.StringVar(&o.creds.adminIdentifier, "admin-identifier", "", "the app admin account (or "+EnvAdminIdentifier+"; default: the operator's, else administrator)")
	f.StringVar(&o.creds.endpoint, "im-endpoint", "", "IM REST base URL (or "+EnvEndpoint+"; default: the operator's, else "+tim.DefaultEndpoint+")")
	f.StringVar(&o.creds.operatorNamespace, "operator-namespace", "", "namespace of the operator's Deployment (default: search every namespace)")
	f.StringVar(&o.policy, "policy", string(imv1alpha1.ManagementPolicyObserve), "managementPolicy of the manifests: Observe or Enforce")
	f.StringVar(&o.groupType, "type", "", "only groups of this type: "+strings.Join(groupTypes, ", "))
	f.StringVar(&o.idPrefix, "id-prefix", "", "only groups whose ID starts with this")
	f.IntVar(&o.limit, "limit", 0, "write at most this many manifests (0: all)")
	f.BoolVar(&o.includeDeclared, "include-declared", false, "also write groups already declared by a ChatGroup in the cluster (and do not consult the cluster for them)")
	f.StringVar(&o.outDir, "out", "", "write one file per group, NAME.yaml, into this directory instead of stdout")
	f.Uint64Var(&o.pageSize, "page-size", tim.MaxAppIDGroupListLimit, "groups per get_appid_group_list call (1-10000)")
	f.Float64Var(&o.imQPS, "im-qps", defaultIMQPS, "IM REST calls per second for the reads (the listing is 1 per second regardless)")
	return cmd
}

func (o *importOptions) validate() error {
	if o.policy != string(imv1alpha1.ManagementPolicyObserve) && o.policy != string(imv1alpha1.ManagementPolicyEnforce) {
		return fmt.Errorf("--policy %q: want Observe or Enforce", o.policy)
	}
	if o.groupType != "" && !slices.Contains(groupTypes, o.groupType) {
		return fmt.Errorf("--type %q: want one of %s (the REST API's names; the console's Work is Private, Meeting is ChatRoom)", o.groupType, strings.Join(groupTypes, ", "))
	}
	if o.limit < 0 {
		return fmt.Errorf("--limit %d: must not be negative", o.limit)
	}
	if o.pageSize < 1 || o.pageSize > tim.MaxAppIDGroupListLimit {
		return fmt.Errorf("--page-size %d: want 1 to %d", o.pageSize, tim.MaxAppIDGroupListLimit)
	}
	if !(o.imQPS > 0) {
		return fmt.Errorf("--im-qps %v: must be positive", o.imQPS)
	}
	return nil
}

func (o *importOptions) run(ctx context.Context) error {
	if err := o.validate(); err != nil {
		return err
	}
	namespace, explicitNS, err := o.r.namespace()
	if err != nil && !o.includeDeclared {
		return err
	}
	if !explicitNS {
		// Without -n the manifests carry no namespace, so that kubectl -n,
		// Kustomize or Flux's targetNamespace decide where they go.
		namespace = ""
	}
	var k8s client.Client
	cluster := func() (client.Client, error) {
		if k8s != nil {
			return k8s, nil
		}
		c, err := o.r.client()
		if err != nil {
			return nil, err
		}
		k8s = c
		return c, nil
	}
	cr, err := o.creds.resolve(ctx, o.r.env.Getenv, cluster)
	if err != nil {
		return err
	}
	o.appRef = cr.appRef
	im, err := tim.New(tim.Config{
		Endpoint: cr.endpoint, SDKAppID: cr.sdkAppID, AdminIdentifier: cr.admin, SecretKey: cr.secretKey, QPS: o.imQPS,
	})
	if err != nil {
		return fmt.Errorf("IM settings from %s: %w", cr.source, err)
	}
	declared := map[string]bool{}
	if !o.includeDeclared {
		c, err := cluster()
		if err != nil {
			return fmt.Errorf("%w (--include-declared imports without consulting the cluster)", err)
		}
		if declared, err = declaredGroupIDs(ctx, c, cr.appRef); err != nil {
			return err
		}
	}
	if o.outDir != "" {
		// A Git work tree: readable by the user's other tools, like git's own files.
		if err := os.MkdirAll(o.outDir, 0o755); err != nil { //nolint:gosec // see above
			return fmt.Errorf("--out: %w", err)
		}
	}

	prog := newProgress(o.r.env.IO.ErrOut, o.pageSize, o.imQPS)
	ids, err := o.list(ctx, im, declared, prog)
	if err != nil {
		return err
	}
	docs, err := o.read(ctx, im, ids, namespace, prog)
	if err != nil {
		return err
	}
	if o.outDir == "" {
		if err := writeStream(ctx, o.r.env.IO.Out, docs); err != nil {
			return err
		}
	}
	prog.done()
	return nil
}

// declaredGroupIDs are the group IDs some ChatGroup in the cluster claims
// in the app appRef names ("" for the default app): the same ID in another
// app is another group. No CRD means nothing is declared.
func declaredGroupIDs(ctx context.Context, c client.Client, appRef string) (map[string]bool, error) {
	var list imv1alpha1.ChatGroupList
	if err := c.List(ctx, &list); err != nil {
		if meta.IsNoMatchError(err) {
			return map[string]bool{}, nil
		}
		return nil, fmt.Errorf("listing ChatGroups to skip declared groups: %w (--include-declared imports without consulting the cluster)", clusterErr(err))
	}
	out := make(map[string]bool, len(list.Items))
	for _, cg := range list.Items {
		if apps.NameOf(&cg) == apps.NameOfRef(appRef) {
			out[cg.Spec.GroupID] = true
		}
	}
	return out, nil
}

// list pages through get_appid_group_list at the documented 1 call per
// second and returns the IDs to import, in listing order.
func (o *importOptions) list(ctx context.Context, im *tim.Client, declared map[string]bool, prog *progress) ([]string, error) {
	seen := map[string]bool{}
	var ids []string
	next := uint64(0)
	var answered time.Time
	for {
		// IM counts calls as they arrive. Spacing the starts by a second
		// is not enough (a call that travels faster than the one before
		// it arrives early and is refused); a second after the previous
		// answer always is.
		if !answered.IsZero() {
			if err := tim.Sleep(ctx, time.Until(answered.Add(listInterval))); err != nil {
				return nil, interrupted(err, o.outDir, 0)
			}
		}
		page, err := im.GetAppIDGroupList(ctx, o.pageSize, next, o.groupType)
		answered = time.Now()
		if err != nil {
			return nil, describeIM(err, "listing the app's groups", o.outDir, 0)
		}
		for _, id := range page.IDs() {
			if seen[id] || !strings.HasPrefix(id, o.idPrefix) {
				continue
			}
			seen[id] = true
			if declared[id] {
				prog.skipped++
				continue
			}
			ids = append(ids, id)
		}
		prog.listed(len(page.GroupIDList), page.TotalCount)
		if o.limit > 0 && len(ids) >= o.limit {
			return ids[:o.limit], nil
		}
		if page.Next == 0 {
			return ids, nil
		}
		next = page.Next
	}
}

// listInterval is the least time between get_appid_group_list calls.
const listInterval = time.Second / tim.AppIDGroupListQPS

// read fetches the groups in batches of tim.MaxGroupInfoBatch and builds
// their manifests. With --out each batch's files are written as soon as it
// is read, each file whole, so an interrupted import keeps what it wrote.
func (o *importOptions) read(ctx context.Context, im *tim.Client, ids []string, namespace string, prog *progress) ([]doc, error) {
	var docs []doc
	names := map[string]string{}
	written := 0
	for start := 0; start < len(ids); start += tim.MaxGroupInfoBatch {
		batch := ids[start:min(start+tim.MaxGroupInfoBatch, len(ids))]
		res, err := im.GetGroupInfoFiltered(ctx, batch, groupInfoFilter)
		if err != nil {
			return nil, describeIM(err, "reading the groups", o.outDir, written)
		}
		for _, g := range res {
			if g.Err != nil {
				if tim.IsNotFound(g.Err) {
					prog.gone++ // destroyed between the listing and the read
					continue
				}
				return nil, describeIM(g.Err, "reading group "+g.GroupID, o.outDir, written)
			}
			d, err := o.manifest(g.GroupInfo, namespace)
			if err != nil {
				return nil, err
			}
			if other, dup := names[d.name]; dup {
				return nil, fmt.Errorf("groups %q and %q map to the same ChatGroup name %s", other, g.GroupID, d.name)
			}
			names[d.name] = g.GroupID
			if o.outDir != "" {
				if err := writeFileAtomic(filepath.Join(o.outDir, d.name+".yaml"), d.yaml); err != nil {
					return nil, fmt.Errorf("--out: %w (%d manifests written)", err, written)
				}
				written++
			}
			docs = append(docs, d)
		}
		prog.read(len(batch), written)
	}
	return docs, nil
}

// doc is one manifest.
type doc struct {
	name string
	yaml []byte
}

// manifest is a ChatGroup as import writes it: only the fields it sets, in
// a fixed order, so the output is byte-identical for unchanged groups.
type manifest struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Metadata   manifestMeta `json:"metadata"`
	Spec       manifestSpec `json:"spec"`
}

type manifestMeta struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

type manifestSpec struct {
	AppRef           *manifestAppRef `json:"appRef,omitempty"`
	GroupID          string          `json:"groupID"`
	Type             string          `json:"type,omitempty"`
	Owner            string          `json:"owner,omitempty"`
	Name             *string         `json:"name,omitempty"`
	Introduction     *string         `json:"introduction,omitempty"`
	Notification     *string         `json:"notification,omitempty"`
	FaceURL          *string         `json:"faceURL,omitempty"`
	ManagementPolicy string          `json:"managementPolicy"`
	// Written out although Orphan is the default: the operator did not
	// create these groups, and a reviewer should see that deleting the
	// file leaves the group alone.
	DeletionPolicy string `json:"deletionPolicy"`
}

func (o *importOptions) manifest(g tim.GroupInfo, namespace string) (doc, error) {
	m := manifest{
		APIVersion: imv1alpha1.GroupVersion.String(),
		Kind:       "ChatGroup",
		Metadata:   manifestMeta{Name: groupname.ForApp(o.appRef, g.GroupID), Namespace: namespace},
		Spec: manifestSpec{
			AppRef:           appRefOf(o.appRef),
			GroupID:          g.GroupID,
			ManagementPolicy: o.policy,
			DeletionPolicy:   string(imv1alpha1.DeletionPolicyOrphan),
		},
	}
	if slices.Contains(groupTypes, g.Type) {
		m.Spec.Type = g.Type
	}
	if o.policy == string(imv1alpha1.ManagementPolicyEnforce) {
		// Every field the operator pushes, at its current value, so that
		// applying the manifest finds nothing to change. An empty name
		// cannot be declared (the schema wants 1 byte): it stays unmanaged.
		if g.Name != "" {
			m.Spec.Name = &g.Name
		}
		m.Spec.Introduction = &g.Introduction
		m.Spec.Notification = &g.Notification
		m.Spec.FaceURL = &g.FaceURL
		m.Spec.Owner = g.OwnerAccount
	}
	b, err := yaml.Marshal(m)
	if err != nil {
		return doc{}, fmt.Errorf("encoding the manifest of group %q: %w", g.GroupID, err)
	}
	return doc{name: m.Metadata.Name, yaml: b}, nil
}

// writeStream writes the manifests sorted by name, one whole document per
// write; Ctrl-C stops between documents.
func writeStream(ctx context.Context, w interface{ Write([]byte) (int, error) }, docs []doc) error {
	slices.SortFunc(docs, func(a, b doc) int { return strings.Compare(a.name, b.name) })
	for _, d := range docs {
		if ctx.Err() != nil {
			return errInterrupted
		}
		if err := writeAll(w, append([]byte("---\n"), d.yaml...)); err != nil {
			return fmt.Errorf("writing to stdout: %w", err)
		}
	}
	return nil
}

// writeFileAtomic replaces path with b through a rename, so the file is
// either the old one or the whole new one, also after Ctrl-C.
func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	// Removing the temporary file is best effort: the error that made it
	// useless is the one to report.
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	// CreateTemp makes 0600; a manifest in Git is as readable as the
	// files git itself checks out.
	if err := os.Chmod(tmp, 0o644); err != nil { //nolint:gosec // see above
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// interrupted reports Ctrl-C with what --out kept.
func interrupted(err error, outDir string, written int) error {
	if outDir != "" {
		return fmt.Errorf("%w: %d manifests written to %s, each whole (%w)", errInterrupted, written, outDir, err)
	}
	return fmt.Errorf("%w: nothing written to stdout (%w)", errInterrupted, err)
}

// describeIM names the cause of a failed IM call in terms a user acts on.
// tim's error texts never carry the key, a UserSig or the request URL.
func describeIM(err error, doing, outDir string, written int) error {
	if errors.Is(err, context.Canceled) {
		return interrupted(err, outDir, written)
	}
	kept := ""
	if outDir != "" && written > 0 {
		kept = fmt.Sprintf("; %d manifests already written to %s are whole", written, outDir)
	}
	var e *tim.Error
	switch {
	case tim.IsCredentials(err):
		return fmt.Errorf("%s: IM refused the credentials (%w): check the SDKAppID, the secret key, the admin identifier, and that the endpoint is your app's region%s", doing, err, kept)
	case tim.IsRateLimited(err):
		return fmt.Errorf("%s: IM rate limit (%w): get_appid_group_list allows %d call per second per app, and another client may be using it; try again later%s", doing, err, tim.AppIDGroupListQPS, kept)
	case errors.As(err, &e) && (e.Err != nil || (e.HTTPStatus != 0 && e.HTTPStatus != 200)):
		return fmt.Errorf("%s: cannot reach IM (%w): check the endpoint (--im-endpoint) and the network%s", doing, err, kept)
	}
	return fmt.Errorf("%s: %w%s", doing, err, kept)
}

// progress reports a long import on stderr, only when it is a terminal.
type progress struct {
	out      *os.File
	pageSize uint64
	readQPS  float64
	start    time.Time
	last     time.Time
	total    uint64
	nListed  uint64
	nRead    int
	nWritten int
	skipped  int
	gone     int
}

func newProgress(w any, pageSize uint64, readQPS float64) *progress {
	p := &progress{pageSize: pageSize, readQPS: readQPS, start: time.Now()}
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		p.out = f
	}
	return p
}

func (p *progress) listed(n int, total uint64) {
	p.nListed += uint64(n) //nolint:gosec // n is a page length, never negative
	p.total = total
	p.show()
}

func (p *progress) read(n, written int) {
	p.nRead += n
	p.nWritten = written
	p.show()
}

// left estimates the remaining time: the listing calls still to make at 1
// per second, plus the reads at --im-qps.
func (p *progress) left() time.Duration {
	var remaining uint64
	if p.total > p.nListed {
		remaining = p.total - p.nListed
	}
	calls := float64((remaining + p.pageSize - 1) / p.pageSize)
	toRead := max(0, float64(p.nListed)-float64(p.skipped)-float64(p.nRead))
	reads := math.Ceil(toRead/tim.MaxGroupInfoBatch) / p.readQPS
	return time.Duration((calls/tim.AppIDGroupListQPS + reads) * float64(time.Second))
}

func (p *progress) show() {
	if p.out == nil || time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	// Progress is best effort: a failed write to the terminal is not worth
	// stopping an import for.
	_, _ = fmt.Fprintf(p.out, "\rlisted %d/%d, read %d, written %d, skipped %d declared; about %s left   ",
		p.nListed, p.total, p.nRead, p.nWritten, p.skipped, p.left().Round(time.Second))
}

func (p *progress) done() {
	if p.out == nil {
		return
	}
	_, _ = fmt.Fprintf(p.out, "\rlisted %d, read %d, skipped %d declared, %d gone meanwhile; done in %s\n",
		p.nListed, p.nRead, p.skipped, p.gone, time.Since(p.start).Round(time.Second))
}

func appRefOf(name string) *manifestAppRef {
	if name == "" {
		return nil
	}
	return &manifestAppRef{Name: name}
}

// manifestAppRef is spec.appRef.
type manifestAppRef struct {
	Name string `json:"name"`
}
