package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// The Dockerfile and `make image` must build the same manager: the same
// package, flags and build environment. Docker is not available here, so
// these tests read both files, and build the manager's package from exactly
// the files the Dockerfile's context holds.

const repoRoot = "../.."

// goBuild is one `go build` command line, split into its parts.
type goBuild struct {
	env      map[string]string // leading NAME=value assignments
	flags    []string          // build flags, -o and its value left out
	packages []string
}

// platformEnv selects the target platform; the Dockerfile takes it from
// buildx's TARGETOS/TARGETARCH while `make image` builds for the host, so it
// is not compared.
var platformEnv = map[string]bool{"GOOS": true, "GOARCH": true}

// shellWords splits a command line the way sh does for the simple words
// these files use: blanks separate, quotes group and are removed.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// parseGoBuild reads `[NAME=value ...] go build [flags] [packages]`.
func parseGoBuild(line string) (goBuild, error) {
	words, err := shellWords(line)
	if err != nil {
		return goBuild{}, err
	}
	b := goBuild{env: map[string]string{}}
	i := 0
	for ; i < len(words); i++ {
		k, v, ok := strings.Cut(words[i], "=")
		if !ok || k == "" || strings.HasPrefix(k, "-") {
			break
		}
		b.env[k] = v
	}
	if i+1 >= len(words) || words[i] != "go" || words[i+1] != "build" {
		return goBuild{}, fmt.Errorf("not a go build command: %q", line)
	}
	for i += 2; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "-o":
			i++ // the output path differs by design
		case strings.HasPrefix(w, "-o="):
		case strings.HasPrefix(w, "-"):
			// Flags that take a value as the next word.
			if (w == "-ldflags" || w == "-gcflags" || w == "-tags" || w == "-mod") && i+1 < len(words) {
				w += "=" + words[i+1]
				i++
			}
			b.flags = append(b.flags, w)
		default:
			b.packages = append(b.packages, w)
		}
	}
	return b, nil
}

// dockerfileInstructions returns the Dockerfile's instructions with line
// continuations joined and comments dropped.
func dockerfileInstructions(text string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		if cur.Len() == 0 && (t == "" || strings.HasPrefix(t, "#")) {
			continue
		}
		if strings.HasSuffix(t, "\\") {
			cur.WriteString(strings.TrimSuffix(t, "\\") + " ")
			continue
		}
		cur.WriteString(t)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

// dockerManager is the manager's build in the Dockerfile, and its final
// USER and ENTRYPOINT.
func dockerManager(text string) (b goBuild, user, entrypoint string, err error) {
	found := 0
	for _, ins := range dockerfileInstructions(text) {
		kw, rest, _ := strings.Cut(ins, " ")
		switch strings.ToUpper(kw) {
		case "RUN":
			if strings.Contains(rest, "go build") {
				found++
				if b, err = parseGoBuild(rest); err != nil {
					return
				}
			}
		case "USER":
			user = strings.TrimSpace(rest)
		case "ENTRYPOINT":
			entrypoint = strings.TrimSpace(rest)
		}
	}
	if found != 1 {
		err = fmt.Errorf("want one RUN ... go build in the Dockerfile, found %d", found)
	}
	return
}

// makeImageManager is the manager's build in the Makefile's image target
// (the go build whose output is .../manager) and the ociimage flags it is
// packed with.
func makeImageManager(text string) (b goBuild, pack []string, err error) {
	lines := strings.Split(text, "\n")
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "image:") {
			start = i
		}
	}
	if start < 0 {
		return b, nil, fmt.Errorf("no image target in the Makefile")
	}
	found := false
	for _, l := range lines[start+1:] {
		if !strings.HasPrefix(l, "\t") {
			break // end of the recipe
		}
		l = strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(l), "@-"))
		words, werr := shellWords(l)
		if werr != nil {
			return b, nil, werr
		}
		switch {
		case strings.Contains(l, "go build") && outputBase(words) == "manager":
			if b, err = parseGoBuild(l); err != nil {
				return
			}
			found = true
		case found && pack == nil && strings.Contains(l, "hack/ociimage"):
			pack = words
		}
	}
	if !found || pack == nil {
		err = fmt.Errorf("the image target has no manager build followed by hack/ociimage")
	}
	return
}

// copiesWholeContext reports whether a `COPY . .` (into the work dir)
// comes before the Dockerfile's go build.
func copiesWholeContext(text string) bool {
	copied := false
	for _, ins := range dockerfileInstructions(text) {
		kw, rest, _ := strings.Cut(ins, " ")
		switch strings.ToUpper(kw) {
		case "COPY":
			if w := strings.Fields(rest); len(w) == 2 && w[0] == "." && (w[1] == "." || w[1] == "./") {
				copied = true
			}
		case "RUN":
			if strings.Contains(rest, "go build") {
				return copied
			}
		}
	}
	return false
}

func outputBase(words []string) string {
	for i, w := range words {
		if w == "-o" && i+1 < len(words) {
			return filepath.Base(words[i+1])
		}
	}
	return ""
}

func flagValue(words []string, name string) string {
	for i, w := range words {
		if w == name && i+1 < len(words) {
			return words[i+1]
		}
		if v, ok := strings.CutPrefix(w, name+"="); ok {
			return v
		}
	}
	return ""
}

// compareBuilds lists how the Dockerfile's build differs from make image's.
func compareBuilds(docker, mk goBuild) []string {
	var diffs []string
	de, me := map[string]string{}, map[string]string{}
	for k, v := range docker.env {
		if !platformEnv[k] {
			de[k] = v
		}
	}
	for k, v := range mk.env {
		if !platformEnv[k] {
			me[k] = v
		}
	}
	if !reflect.DeepEqual(de, me) {
		diffs = append(diffs, fmt.Sprintf("environment: Dockerfile %v, make image %v", de, me))
	}
	if !reflect.DeepEqual(docker.flags, mk.flags) {
		diffs = append(diffs, fmt.Sprintf("flags: Dockerfile %q, make image %q", docker.flags, mk.flags))
	}
	if !reflect.DeepEqual(docker.packages, mk.packages) {
		diffs = append(diffs, fmt.Sprintf("packages: Dockerfile %q, make image %q", docker.packages, mk.packages))
	}
	return diffs
}

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDockerfileBuildsWhatMakeImageBuilds(t *testing.T) {
	docker, user, entrypoint, err := dockerManager(readRepoFile(t, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	mk, pack, err := makeImageManager(readRepoFile(t, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range compareBuilds(docker, mk) {
		t.Error(d)
	}
	if want := flagValue(pack, "--user"); user != want {
		t.Errorf("Dockerfile USER %q, make image packs with --user %q", user, want)
	}
	if !copiesWholeContext(readRepoFile(t, "Dockerfile")) {
		t.Error("the Dockerfile's build stage must COPY . . before it builds: .dockerignore decides what the build sees")
	}
	if want := fmt.Sprintf(`["%s"]`, flagValue(pack, "--entrypoint")); entrypoint != want {
		t.Errorf("Dockerfile ENTRYPOINT %s, make image packs with --entrypoint %s", entrypoint, want)
	}
}

// TestCompareBuildsFindsDrift: the comparison itself can fail.
func TestCompareBuildsFindsDrift(t *testing.T) {
	base := `CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o $(IMAGES_DIR)/build/manager .`
	for _, tt := range []struct {
		name, other string
		drift       bool
	}{
		{"same, other output and platform", `CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} go build -trimpath -ldflags="-s -w" -o manager .`, false},
		{"other package", `CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o manager ./cmd/imsim`, true},
		{"main.go alone", `CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o manager main.go`, true},
		{"no trimpath", `CGO_ENABLED=0 go build -ldflags="-s -w" -o manager .`, true},
		{"other ldflags", `CGO_ENABLED=0 go build -trimpath -ldflags "-s" -o manager .`, true},
		{"cgo", `go build -trimpath -ldflags="-s -w" -o manager .`, true},
	} {
		a, err := parseGoBuild(base)
		if err != nil {
			t.Fatal(err)
		}
		b, err := parseGoBuild(tt.other)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(compareBuilds(b, a)) > 0; got != tt.drift {
			t.Errorf("%s: drift %v, want %v (%v)", tt.name, got, tt.drift, compareBuilds(b, a))
		}
	}
}

// dockerContext copies the files a `docker build` of the repository would
// send (everything .dockerignore does not exclude) into a new directory.
func dockerContext(t *testing.T, root string) string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		skip, err := pm.MatchesOrParentMatches(rel)
		if err != nil {
			return err
		}
		switch {
		case skip && d.IsDir() && !pm.Exclusions():
			return filepath.SkipDir
		case skip, d.IsDir():
			return nil
		case !d.Type().IsRegular():
			return nil // symlinks into bin/ and the like; Go sources are files
		}
		return copyFile(p, filepath.Join(dst, filepath.FromSlash(rel)))
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func copyFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// packageFiles lists, for every package of this module that pkgs need (at
// GOOS=linux, CGO_ENABLED=0), the files the compiler reads.
func packageFiles(t *testing.T, dir string, pkgs []string) string {
	t.Helper()
	args := append([]string{"list", "-deps", "-f",
		"{{if not .Standard}}{{if .Module}}{{if .Module.Main}}{{.ImportPath}}: {{.GoFiles}} {{.EmbedFiles}}{{end}}{{end}}{{end}}"}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=linux", "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, stderr)
	}
	return string(out)
}

// TestDockerfileContextHoldsTheBuild: the Docker context (what
// .dockerignore lets through) holds every file the manager's build reads,
// so the Dockerfile's `COPY . .` then compiles exactly what the repository
// compiles. (The Dockerfile once copied main.go alone while package main
// had three files.) It compares file lists instead of compiling: the same
// files compile the same, and the rest of CI compiles them.
func TestDockerfileContextHoldsTheBuild(t *testing.T) {
	docker, _, _, err := dockerManager(readRepoFile(t, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	ctxDir := dockerContext(t, repoRoot)
	want := packageFiles(t, repoRoot, docker.packages)
	if !strings.Contains(want, ": [") {
		t.Fatalf("no package of this module listed:\n%s", want)
	}
	if got := packageFiles(t, ctxDir, docker.packages); got != want {
		t.Errorf("the Docker context builds other files than the repository\ncontext:\n%s\nrepository:\n%s", got, want)
	}
}
