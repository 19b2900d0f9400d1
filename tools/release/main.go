// Command release writes prexmon's release artifacts into one folder (make
// release): an archive per platform, .deb and .rpm packages for Linux and
// sha256sums.txt, all byte-identical when built twice from one commit.
//
// It is a module of its own so that nfpm, which writes the packages, stays
// out of the main module's dependency graph.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// platforms lists every platform a release covers and the programs that
// build there: all of them, on every platform.
var platforms = []platform{
	{"linux", "amd64", []string{"exporter", "archiver"}},
	{"linux", "arm64", []string{"exporter", "archiver"}},
	{"windows", "amd64", []string{"exporter", "archiver"}},
	{"windows", "arm64", []string{"exporter", "archiver"}},
	{"darwin", "arm64", []string{"exporter", "archiver"}},
}

type platform struct {
	os, arch string
	programs []string
}

func (p platform) String() string { return p.os + "/" + p.arch }

func (p platform) exe(program string) string {
	if p.os == "windows" {
		return program + ".exe"
	}
	return program
}

// versionRE accepts what both dpkg and rpm can order: semver without a "v".
var versionRE = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?(\+[0-9A-Za-z.]+)?$`)

type release struct {
	root, dist string
	version    string
	revision   string
	mtime      time.Time // the commit time: every timestamp in every artifact
	goCmd      string
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("release: ")
	var (
		r     release
		epoch = flag.Int64("source-date-epoch", -1, "timestamp of every file and the build date, in Unix seconds (the commit time)")
		only  = flag.String("platforms", "", "comma-separated os/arch to build (default: all of them)")
	)
	flag.StringVar(&r.root, "root", "../..", "the repository root")
	flag.StringVar(&r.dist, "dist", "dist", "output folder, relative to -root")
	flag.StringVar(&r.version, "version", "", "the release version, e.g. 0.1.0 or 0.0.0-dev+<commit>")
	flag.StringVar(&r.revision, "revision", "", "the full commit hash")
	flag.StringVar(&r.goCmd, "go", "go", "the go command")
	flag.Parse()

	if !versionRE.MatchString(r.version) {
		log.Fatalf("-version %q: want MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD] (the tag without its v)", r.version)
	}
	if r.revision == "" || *epoch < 0 {
		log.Fatal("-revision and -source-date-epoch are required")
	}
	r.mtime = time.Unix(*epoch, 0).UTC()
	var err error
	if r.root, err = filepath.Abs(r.root); err != nil {
		log.Fatal(err)
	}
	if !filepath.IsAbs(r.dist) {
		r.dist = filepath.Join(r.root, r.dist)
	}
	selected, err := selectPlatforms(*only)
	if err != nil {
		log.Fatal(err)
	}
	if err := r.run(selected); err != nil {
		log.Fatal(err)
	}
}

func selectPlatforms(list string) ([]platform, error) {
	if list == "" {
		return platforms, nil
	}
	var out []platform
	for _, name := range strings.Split(list, ",") {
		i := slices.IndexFunc(platforms, func(p platform) bool { return p.String() == strings.TrimSpace(name) })
		if i < 0 {
			return nil, fmt.Errorf("unknown platform %q (known: %v)", name, platforms)
		}
		out = append(out, platforms[i])
	}
	return out, nil
}

func (r *release) run(selected []platform) error {
	if err := r.cleanDist(); err != nil {
		return err
	}
	stage, err := os.MkdirTemp("", "prexmon-release-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)

	var artifacts []string
	for _, p := range selected {
		bin := filepath.Join(stage, p.os+"-"+p.arch)
		for _, prog := range p.programs {
			start := time.Now()
			if err := r.build(p, prog, filepath.Join(bin, p.exe(prog))); err != nil {
				return err
			}
			log.Printf("built %s for %s in %.1fs", prog, p, time.Since(start).Seconds())
		}
		name, err := r.writeArchive(p, bin)
		if err != nil {
			return err
		}
		artifacts = append(artifacts, name)
		if p.os == "linux" {
			names, err := r.writePackages(p, bin, filepath.Join(stage, "pkg"))
			if err != nil {
				return err
			}
			artifacts = append(artifacts, names...)
		}
	}
	return r.writeChecksums(artifacts)
}

// cleanDist empties the output folder of earlier artifacts, so that
// sha256sums.txt and the folder always agree; it removes nothing else.
func (r *release) cleanDist() error {
	if err := os.MkdirAll(r.dist, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(r.dist)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if n := e.Name(); n == "sha256sums.txt" || strings.HasPrefix(n, "prexmon-") || strings.HasPrefix(n, "prexmon_") {
			if err := os.Remove(filepath.Join(r.dist, n)); err != nil {
				return err
			}
		}
	}
	return nil
}

// build compiles one program the reproducible way: no cgo, no host paths
// (-trimpath), no VCS stamp (the revision comes in through -ldflags), the
// commit time as build date and a fixed branch and user, and explicit
// instruction-set levels so that the environment cannot change them.
func (r *release) build(p platform, prog, out string) error {
	const vpkg = "github.com/prometheus/common/version"
	ldflags := strings.Join([]string{
		"-s", "-w",
		"-X", vpkg + ".Version=" + r.version,
		"-X", vpkg + ".Revision=" + r.revision,
		"-X", vpkg + ".Branch=HEAD",
		"-X", vpkg + ".BuildUser=prexmon",
		"-X", vpkg + ".BuildDate=" + r.mtime.Format("20060102-15:04:05"),
	}, " ")
	cmd := exec.Command(r.goCmd, "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", out, "./"+prog)
	cmd.Dir = r.root
	cmd.Env = append(os.Environ(),
		"CGO_ENABLED=0", "GOOS="+p.os, "GOARCH="+p.arch,
		"GOAMD64=v1", "GOARM64=v8.0", "GOFLAGS=-mod=readonly", "GOEXPERIMENT=",
	)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s for %s: %w", prog, p, err)
	}
	return nil
}

// writeChecksums writes sha256sums.txt in the format of sha256sum(1), so
// that `sha256sum -c --ignore-missing sha256sums.txt` checks a download.
func (r *release) writeChecksums(names []string) error {
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		f, err := os.Open(filepath.Join(r.dist, n))
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), n)
	}
	log.Printf("wrote %d artifacts and sha256sums.txt to %s", len(names), r.dist)
	return os.WriteFile(filepath.Join(r.dist, "sha256sums.txt"), []byte(b.String()), 0o644)
}
