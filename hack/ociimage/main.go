// Command ociimage packs one static binary into a FROM-scratch OCI image
// archive, without Docker: a single layer holding the binary (and a
// distroless-like /etc/passwd, /etc/group and /tmp), a config with the
// Entrypoint and User, written as an OCI image layout whose index.json
// carries the image name in the annotation containerd's importer reads, and
// packed into one tar. The result loads with
//
//	ctr -n k8s.io images import image.tar
//
// The image itself (layer, config, manifest, index) is built by
// go-containerregistry (mutate, tarball, layout), so the OCI formats are
// the library's job; this file only says what goes into the image and packs
// the layout directory.
//
// The archive is reproducible: same binary, same flags, same bytes. Times
// are SOURCE_DATE_EPOCH, or the Unix epoch.
//
// Usage:
//
//	go run ./hack/ociimage --binary bin/manager --name localhost/chatgroup-operator:dev \
//	    --entrypoint /manager --user 65532:65532 --out bin/images/chatgroup-operator.tar
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotations on the index entry: containerd names the imported image from
// the first, other OCI tools from the second.
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
}

// spec is what goes into the image.
type spec struct {
	binary     []byte
	binName    string // base name of --binary, for the history entry
	ref, tag   string
	entrypoint string
	user       string
	arch       string
	cmd        []string
	labels     map[string]string
	epoch      time.Time
}

func run(args []string) error {
	fs := flag.NewFlagSet("ociimage", flag.ContinueOnError)
	binary := fs.String("binary", "", "static binary to ship (required)")
	name := fs.String("name", "", "image name, e.g. localhost/chatgroup-operator:dev (required)")
	out := fs.String("out", "", "OCI archive to write (required)")
	entrypoint := fs.String("entrypoint", "", "absolute path of the binary in the image (default /<basename of --binary>)")
	user := fs.String("user", "65532:65532", "USER of the image (uid:gid); empty = root")
	arch := fs.String("arch", runtime.GOARCH, "image architecture")
	var cmd, labels stringList
	fs.Var(&cmd, "cmd", "default argument (repeatable)")
	fs.Var(&labels, "label", "image label key=value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *binary == "" || *name == "" || *out == "" {
		return errors.New("--binary, --name and --out are required")
	}
	s := spec{binName: filepath.Base(*binary), ref: *name, tag: "latest", entrypoint: *entrypoint, user: *user, arch: *arch, cmd: cmd}
	if i := strings.LastIndex(s.ref, ":"); i > strings.LastIndex(s.ref, "/") {
		s.tag = s.ref[i+1:]
	} else {
		s.ref += ":" + s.tag
	}
	if s.entrypoint == "" {
		s.entrypoint = "/" + s.binName
	}
	if !path.IsAbs(s.entrypoint) || path.Clean(s.entrypoint) != s.entrypoint || s.entrypoint == "/" {
		return fmt.Errorf("--entrypoint %q must be a clean absolute file path", s.entrypoint)
	}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return fmt.Errorf("--label %q: want key=value", l)
		}
		if s.labels == nil {
			s.labels = map[string]string{}
		}
		s.labels[k] = v
	}
	s.epoch = time.Unix(0, 0).UTC()
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		sec, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", v, err)
		}
		s.epoch = time.Unix(sec, 0).UTC()
	}
	var err error
	if s.binary, err = os.ReadFile(*binary); err != nil {
		return err
	}

	img, err := build(s)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o750); err != nil {
		return err
	}
	digest, err := writeArchive(img, s, *out)
	if err != nil {
		return err
	}
	fmt.Printf("ociimage: wrote %s (%s, manifest %s)\n", *out, s.ref, digest)
	return nil
}

// build assembles the image: one layer, the config, OCI media types.
func build(s spec) (v1.Image, error) {
	layerTar, err := layerContent(s.epoch, strings.TrimPrefix(s.entrypoint, "/"), s.binary)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: s.epoch}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: created, CreatedBy: "hack/ociimage: COPY " + s.binName + " " + s.entrypoint},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Created = created
	cf.Architecture = s.arch
	cf.OS = "linux"
	cf.Config = v1.Config{
		User:       s.user,
		Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Entrypoint: []string{s.entrypoint},
		Cmd:        s.cmd,
		WorkingDir: "/",
		Labels:     s.labels,
	}
	return mutate.ConfigFile(img, cf)
}

// layerContent is the image's only layer: what distroless/static:nonroot
// gives a static binary (a nonroot user, /tmp), plus the binary itself.
func layerContent(epoch time.Time, binPath string, bin []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: epoch, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []struct {
		name string
		mode int64
	}{{"etc/", 0o755}, {"tmp/", 0o1777}} {
		if err := dir(d.name, d.mode); err != nil {
			return nil, err
		}
	}
	// Parent directories of the binary, if it is not at the root.
	if d := path.Dir(binPath); d != "." {
		parts := strings.Split(d, "/")
		for i := range parts {
			p := strings.Join(parts[:i+1], "/") + "/"
			if p == "etc/" || p == "tmp/" {
				continue
			}
			if err := dir(p, 0o755); err != nil {
				return nil, err
			}
		}
	}
	if err := file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")); err != nil {
		return nil, err
	}
	if err := file("etc/group", 0o644, []byte("root:x:0:\nnonroot:x:65532:\n")); err != nil {
		return nil, err
	}
	if err := file(binPath, 0o755, bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeArchive writes img as an OCI image layout (go-containerregistry's
// layout package) into a scratch directory and packs that directory into
// out, with fixed times and owners so the bytes depend only on the image.
// It returns the manifest digest.
func writeArchive(img v1.Image, s spec, out string) (string, error) {
	scratch, err := os.MkdirTemp(filepath.Dir(out), ".ociimage-")
	if err != nil {
		return "", err
	}
	defer func() { _ = os.RemoveAll(scratch) }()
	lp, err := layout.Write(scratch, empty.Index)
	if err != nil {
		return "", err
	}
	err = lp.AppendImage(img,
		layout.WithPlatform(v1.Platform{Architecture: s.arch, OS: "linux"}),
		layout.WithAnnotations(map[string]string{annotationContainerdName: s.ref, annotationRefName: s.tag}))
	if err != nil {
		return "", err
	}
	digest, err := img.Digest()
	if err != nil {
		return "", err
	}

	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	defer func() { _ = os.Remove(tmp) }() // fails once renamed: nothing left to remove
	if err := packDir(f, scratch, s.epoch); err != nil {
		_ = f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return digest.String(), os.Rename(tmp, out)
}

// packDir tars the tree under dir in lexical order (fs.WalkDir's), as
// root-owned entries dated epoch. It reads through an os.Root, so nothing
// outside dir can be reached.
func packDir(w io.Writer, dir string, epoch time.Time) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer func() { _ = root.Close() }()
	fsys := root.FS()
	tw := tar.NewWriter(w)
	err = fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || name == "." {
			return err
		}
		if d.IsDir() {
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX})
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", name)
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
