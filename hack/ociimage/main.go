// Command ociimage packs one static binary into a FROM-scratch OCI image
// archive, without Docker: a single uncompressed layer holding the binary (and
// a distroless-like /etc/passwd, /etc/group and /tmp), a config with the
// Entrypoint and User, a manifest, and an index.json carrying the image name
// in the annotations containerd's importer reads. The result loads with
//
//	ctr -n k8s.io images import --all-platforms image.tar
//
// The archive is reproducible: same binary, same flags, same bytes.
//
// Usage:
//
//	go run ./hack/ociimage --binary bin/manager --name localhost/chatgroup-operator:dev \
//	    --entrypoint /manager --user 65532:65532 --out bin/images/chatgroup-operator.tar
package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

const (
	mediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar"
)

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type imageConfig struct {
	Created      string `json:"created"`
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		User       string            `json:"User,omitempty"`
		Env        []string          `json:"Env,omitempty"`
		Entrypoint []string          `json:"Entrypoint,omitempty"`
		Cmd        []string          `json:"Cmd,omitempty"`
		WorkingDir string            `json:"WorkingDir,omitempty"`
		Labels     map[string]string `json:"Labels,omitempty"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
	History []history `json:"history,omitempty"`
}

type history struct {
	Created   string `json:"created"`
	CreatedBy string `json:"created_by"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []descriptor `json:"manifests"`
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
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
	ref := *name
	tag := "latest"
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		tag = ref[i+1:]
	} else {
		ref += ":" + tag
	}
	if *entrypoint == "" {
		*entrypoint = "/" + filepath.Base(*binary)
	}
	if !path.IsAbs(*entrypoint) {
		return fmt.Errorf("--entrypoint %q must be absolute", *entrypoint)
	}
	bin, err := os.ReadFile(*binary)
	if err != nil {
		return err
	}

	// A fixed timestamp keeps the archive reproducible.
	epoch := time.Unix(0, 0).UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		var sec int64
		if _, err := fmt.Sscan(s, &sec); err == nil {
			epoch = time.Unix(sec, 0).UTC()
		}
	}

	layer, err := buildLayer(epoch, strings.TrimPrefix(*entrypoint, "/"), bin)
	if err != nil {
		return err
	}
	layerDigest := digest(layer)

	var cfg imageConfig
	cfg.Created = epoch.Format(time.RFC3339)
	cfg.Architecture = *arch
	cfg.OS = "linux"
	cfg.Config.User = *user
	cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cfg.Config.Entrypoint = []string{*entrypoint}
	cfg.Config.Cmd = cmd
	cfg.Config.WorkingDir = "/"
	if len(labels) > 0 {
		cfg.Config.Labels = map[string]string{}
		for _, l := range labels {
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				return fmt.Errorf("--label %q: want key=value", l)
			}
			cfg.Config.Labels[k] = v
		}
	}
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = []string{layerDigest} // uncompressed: digest == diff_id
	cfg.History = []history{{Created: cfg.Created, CreatedBy: "hack/ociimage: COPY " + filepath.Base(*binary) + " " + *entrypoint}}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return err
	}

	man := manifest{
		SchemaVersion: 2,
		MediaType:     mediaTypeManifest,
		Config:        descriptor{MediaType: mediaTypeConfig, Digest: digest(cfgJSON), Size: int64(len(cfgJSON))},
		Layers:        []descriptor{{MediaType: mediaTypeLayer, Digest: layerDigest, Size: int64(len(layer))}},
	}
	manJSON, err := json.Marshal(man)
	if err != nil {
		return err
	}
	idx := index{
		SchemaVersion: 2,
		MediaType:     mediaTypeIndex,
		Manifests: []descriptor{{
			MediaType: mediaTypeManifest, Digest: digest(manJSON), Size: int64(len(manJSON)),
			Platform: &platform{Architecture: *arch, OS: "linux"},
			Annotations: map[string]string{
				"io.containerd.image.name":          ref,
				"org.opencontainers.image.ref.name": tag,
			},
		}},
	}
	idxJSON, err := json.Marshal(idx)
	if err != nil {
		return err
	}

	if err := os.MkdirAll(filepath.Dir(*out), 0o750); err != nil {
		return err
	}
	tmp := *out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	entries := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", idxJSON},
		{blobPath(layerDigest), layer},
		{blobPath(man.Config.Digest), cfgJSON},
		{blobPath(idx.Manifests[0].Digest), manJSON},
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	for _, e := range entries {
		if err := writeFile(tw, e.name, 0o644, epoch, e.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, *out); err != nil {
		return err
	}
	fmt.Printf("ociimage: wrote %s (%s, manifest %s, %d bytes layer)\n", *out, ref, idx.Manifests[0].Digest, len(layer))
	return nil
}

// buildLayer is the image's only layer: what distroless/static:nonroot gives
// a static binary (a nonroot user, /tmp), plus the binary itself.
func buildLayer(epoch time.Time, binPath string, bin []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := []struct {
		name string
		mode int64
	}{{"etc/", 0o755}, {"tmp/", 0o1777}}
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{"etc/group", 0o644, []byte("root:x:0:\nnonroot:x:65532:\n")},
	}
	// Parent directories of the binary, if it is not at the root.
	if dir := path.Dir(binPath); dir != "." {
		parts := strings.Split(dir, "/")
		for i := range parts {
			p := strings.Join(parts[:i+1], "/") + "/"
			if p == "etc/" || p == "tmp/" {
				continue
			}
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
				return nil, err
			}
		}
	}
	files = append(files, struct {
		name string
		mode int64
		data []byte
	}{binPath, 0o755, bin})
	for _, f := range files {
		if err := writeFile(tw, f.name, f.mode, epoch, f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeFile(tw *tar.Writer, name string, mode int64, mtime time.Time, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
		return err
	}
	_, err := io.Copy(tw, bytes.NewReader(data))
	return err
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func blobPath(d string) string { return "blobs/sha256/" + strings.TrimPrefix(d, "sha256:") }
