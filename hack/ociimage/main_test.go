package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// pack runs the command as the Makefile does and returns the archive.
func pack(t *testing.T, dir string, extra ...string) []byte {
	t.Helper()
	bin := filepath.Join(dir, "manager")
	if _, err := os.Stat(bin); errors.Is(err, os.ErrNotExist) {
		// Any bytes do: the packer does not look inside the binary.
		if err := os.WriteFile(bin, []byte("\x7fELF pretend static binary\n"), 0o755); err != nil { //nolint:gosec // an executable, like the real one
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out", "chatgroup-operator.tar")
	args := append([]string{"--binary", bin, "--entrypoint", "/manager", "--user", "65532:65532",
		"--name", "localhost/chatgroup-operator:dev", "--out", out}, extra...)
	if err := run(args); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// untar lists the archive's entries (like `tar tf`) and unpacks it into dir.
func untar(t *testing.T, archive []byte, dir string) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.ModTime.Unix() != 0 {
			t.Errorf("%s: owner %d:%d, time %v; want root and the epoch", h.Name, h.Uid, h.Gid, h.ModTime)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o750); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("%s: unexpected entry type %c", h.Name, h.Typeflag)
		}
	}
	return names
}

// TestArchiveIsWhatContainerdImports: the archive is an OCI image layout in
// one tar, as `ctr images import` (hack/cluster/up.sh) reads it: oci-layout,
// index.json naming the image, blobs. go-containerregistry reads it back
// and validates every digest; the image holds the binary where the
// entrypoint says, runs as the given user, and the archive is the same
// bytes on a second run.
func TestArchiveIsWhatContainerdImports(t *testing.T) {
	dir := t.TempDir()
	archive := pack(t, dir)
	if again := pack(t, dir); !bytes.Equal(archive, again) {
		t.Fatal("two runs with the same input wrote different archives")
	}
	if other := pack(t, dir, "--label", "a=b"); bytes.Equal(archive, other) {
		t.Fatal("a label changed nothing")
	}

	lp := filepath.Join(dir, "layout")
	names := untar(t, archive, lp)
	var blobs int
	for _, n := range names {
		if strings.HasPrefix(n, "blobs/sha256/") && n != "blobs/sha256/" {
			blobs++
		}
	}
	for _, want := range []string{"oci-layout", "index.json", "blobs/", "blobs/sha256/"} {
		if !contains(names, want) {
			t.Errorf("archive lacks %s: %v", want, names)
		}
	}
	if blobs != 3 { // manifest, config, one layer
		t.Errorf("%d blobs, want 3: %v", blobs, names)
	}

	// index.json as containerd reads it: one manifest, named, with a platform.
	var idx struct {
		Manifests []struct {
			MediaType   string            `json:"mediaType"`
			Annotations map[string]string `json:"annotations"`
			Platform    struct{ OS, Architecture string }
		} `json:"manifests"`
	}
	raw, err := os.ReadFile(filepath.Join(lp, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 {
		t.Fatalf("index.json: %s", raw)
	}
	m := idx.Manifests[0]
	if m.MediaType != string(types.OCIManifestSchema1) || m.Annotations["io.containerd.image.name"] != "localhost/chatgroup-operator:dev" ||
		m.Annotations["org.opencontainers.image.ref.name"] != "dev" || m.Platform.OS != "linux" || m.Platform.Architecture == "" {
		t.Errorf("index.json entry %+v", m)
	}

	p, err := layout.FromPath(lp)
	if err != nil {
		t.Fatal(err)
	}
	ii, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(ii); err != nil {
		t.Fatalf("the layout does not validate: %v", err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	img, err := ii.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Config.User != "65532:65532" || !reflect.DeepEqual(cf.Config.Entrypoint, []string{"/manager"}) ||
		cf.Created.Unix() != 0 || len(cf.RootFS.DiffIDs) != 1 {
		t.Errorf("config %+v", cf)
	}

	// The image's file system (Extract drops the trailing / of directories).
	files := map[string]*tar.Header{}
	contents := map[string][]byte{}
	tr := tar.NewReader(mutate.Extract(img))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(h.Name, "/")] = h
		contents[strings.TrimSuffix(h.Name, "/")], _ = io.ReadAll(tr)
	}
	var got []string
	for n := range files {
		got = append(got, n)
	}
	sort.Strings(got)
	if want := []string{"etc", "etc/group", "etc/passwd", "manager", "tmp"}; !reflect.DeepEqual(got, want) {
		t.Errorf("image files %v, want %v", got, want)
	}
	if h := files["manager"]; h == nil || h.Mode&0o777 != 0o755 || string(contents["manager"]) != "\x7fELF pretend static binary\n" {
		t.Errorf("the binary in the image: %+v", h)
	}
	if !strings.Contains(string(contents["etc/passwd"]), "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd %q", contents["etc/passwd"])
	}
	if h := files["tmp"]; h == nil || h.Mode&0o7777 != 0o1777 {
		t.Errorf("/tmp %+v", h)
	}
}

func TestRefusesBadFlags(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "b")
	if err := os.WriteFile(bin, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "o.tar")
	for _, args := range [][]string{
		{"--binary", bin, "--out", out},
		{"--binary", bin, "--name", "x", "--out", out, "--entrypoint", "relative"},
		{"--binary", bin, "--name", "x", "--out", out, "--entrypoint", "/a/../b"},
		{"--binary", bin, "--name", "x", "--out", out, "--label", "novalue"},
		{"--binary", filepath.Join(dir, "missing"), "--name", "x", "--out", out},
	} {
		if err := run(args); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused run left %s behind", out)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
