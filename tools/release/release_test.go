package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const testVersion = "1.2.3-rc.1+test"

var repoRoot = func() string { p, _ := filepath.Abs("../.."); return p }()

// makeRelease runs `make release` for the host's Linux platform into a new
// folder, the way CI and a release manager do.
func makeRelease(t *testing.T) string {
	t.Helper()
	dist := t.TempDir()
	cmd := exec.Command("make", "-C", repoRoot, "release", "VERSION="+testVersion,
		"PLATFORMS=linux/"+runtime.GOARCH, "DIST="+dist)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make release: %v\n%s", err, out)
	}
	return dist
}

// TestRelease builds a release twice and checks what a user gets: names,
// checksums, a binary that tells its version, packages with the programs,
// units, config files and maintainer scripts, and identical bytes.
func TestRelease(t *testing.T) {
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skipf("releases are built on linux/amd64 or linux/arm64, not %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	dist := makeRelease(t)
	deb := map[string]string{"amd64": "amd64", "arm64": "arm64"}[runtime.GOARCH]
	rpm := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]
	rpmVersion, debVersion := "1.2.3~rc.1+test-1", "1.2.3~rc.1+test-1"
	top := "prexmon-" + testVersion + ".linux-" + runtime.GOARCH
	want := []string{
		top + ".tar.gz",
		"prexmon-archiver-" + rpmVersion + "." + rpm + ".rpm",
		"prexmon-archiver_" + debVersion + "_" + deb + ".deb",
		"prexmon-exporter-" + rpmVersion + "." + rpm + ".rpm",
		"prexmon-exporter_" + debVersion + "_" + deb + ".deb",
		"sha256sums.txt",
	}
	if got := dirNames(t, dist); !slices.Equal(got, want) {
		t.Fatalf("dist holds\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	t.Run("checksums", func(t *testing.T) {
		sums, _ := os.ReadFile(filepath.Join(dist, "sha256sums.txt"))
		if n := strings.Count(string(sums), "\n"); n != len(want)-1 {
			t.Errorf("sha256sums.txt has %d lines, want %d:\n%s", n, len(want)-1, sums)
		}
		cmd := exec.Command("sha256sum", "-c", "--strict", "sha256sums.txt")
		cmd.Dir = dist
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sha256sum -c: %v\n%s", err, out)
		}
	})

	t.Run("archive", func(t *testing.T) {
		dir := t.TempDir()
		names := untar(t, filepath.Join(dist, top+".tar.gz"), dir)
		for _, f := range []string{"exporter", "archiver", "LICENSE", "README.md", "CHANGELOG.md",
			"archiver.yml", "targets/agents.yml", "web-config.yml",
			"systemd/prexmon-exporter.service", "systemd/prexmon-archiver.service"} {
			if !slices.Contains(names, top+"/"+f) {
				t.Errorf("archive lacks %s", f)
			}
		}
		for _, prog := range []string{"exporter", "archiver"} {
			out, err := exec.Command(filepath.Join(dir, top, prog), "--version").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "version "+testVersion+" ") {
				t.Errorf("%s --version: %v\n%s", prog, err, out)
			}
		}
	})

	t.Run("deb", func(t *testing.T) {
		if _, err := exec.LookPath("dpkg-deb"); err != nil {
			t.Skip("SKIPPED: dpkg-deb not installed")
		}
		for _, tc := range []struct{ prog, conffiles string }{
			{"exporter", "/etc/default/prexmon-exporter\n"},
			{"archiver", "/etc/default/prexmon-archiver\n/etc/prexmon/archiver.yml\n/etc/prexmon/targets/agents.yml\n"},
		} {
			pkg := filepath.Join(dist, "prexmon-"+tc.prog+"_"+debVersion+"_"+deb+".deb")
			list := run(t, "dpkg-deb", "-c", pkg)
			for _, f := range []string{"./usr/bin/prexmon-" + tc.prog, "./usr/lib/systemd/system/prexmon-" + tc.prog + ".service",
				"./usr/share/doc/prexmon-" + tc.prog + "/LICENSE"} {
				if !strings.Contains(list, " "+f+"\n") {
					t.Errorf("%s lacks %s:\n%s", filepath.Base(pkg), f, list)
				}
			}
			if got := run(t, "dpkg-deb", "-I", pkg, "conffiles"); got != tc.conffiles {
				t.Errorf("%s conffiles:\n%swant\n%s", filepath.Base(pkg), got, tc.conffiles)
			}
			info := run(t, "dpkg-deb", "-I", pkg)
			for _, s := range []string{"preinst", "postinst", "prerm", "postrm", "Version: " + debVersion} {
				if !strings.Contains(info, s) {
					t.Errorf("%s: dpkg-deb -I lacks %s:\n%s", filepath.Base(pkg), s, info)
				}
			}
			for _, s := range []string{"preinst", "postinst"} {
				script := run(t, "dpkg-deb", "-I", pkg, s)
				if !strings.Contains(script, "useradd --system") && !strings.Contains(script, "install -d -o prexmon -g prexmon") {
					t.Errorf("%s %s neither creates the user nor the data directory:\n%s", filepath.Base(pkg), s, script)
				}
			}
			root := t.TempDir()
			run(t, "dpkg-deb", "-x", pkg, root)
			unit, _ := os.ReadFile(filepath.Join(root, "usr/lib/systemd/system/prexmon-"+tc.prog+".service"))
			for _, s := range []string{"\nExecStart=/usr/bin/prexmon-" + tc.prog + " ", "\nUser=prexmon\n", "\nGroup=prexmon\n"} {
				if !strings.Contains(string(unit), s) {
					t.Errorf("packaged prexmon-%s.service lacks %q:\n%s", tc.prog, strings.TrimSpace(s), unit)
				}
			}
			if tc.prog == "archiver" && (!strings.Contains(string(unit), " --storage.path=/var/lib/prexmon ") ||
				!strings.Contains(string(unit), "\nStateDirectory=prexmon\nStateDirectoryMode=0700\n")) {
				t.Errorf("packaged archiver unit does not store in /var/lib/prexmon:\n%s", unit)
			}
			// systemd's own check, on the unit starting the extracted binary.
			if analyze, err := exec.LookPath("systemd-analyze"); err == nil {
				bin := "/usr/bin/prexmon-" + tc.prog
				path := filepath.Join(root, "prexmon-"+tc.prog+".service")
				os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), bin, filepath.Join(root, bin))), 0o644)
				if out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
					t.Errorf("systemd-analyze verify packaged prexmon-%s.service: %v\n%s", tc.prog, err, out)
				}
			}
		}
	})

	t.Run("rpm", func(t *testing.T) {
		for _, prog := range []string{"exporter", "archiver"} {
			pkg := filepath.Join(dist, "prexmon-"+prog+"-"+rpmVersion+"."+rpm+".rpm")
			h, err := readRPMHeader(pkg)
			if err != nil {
				t.Fatal(err)
			}
			if got := h.strs[tagName]; !slices.Equal(got, []string{"prexmon-" + prog}) {
				t.Errorf("%s: name %v", filepath.Base(pkg), got)
			}
			if got := h.strs[tagVersion]; !slices.Equal(got, []string{"1.2.3~rc.1+test"}) {
				t.Errorf("%s: version %v", filepath.Base(pkg), got)
			}
			files := h.files()
			config := []string{"/etc/default/prexmon-" + prog}
			if prog == "archiver" {
				config = append(config, "/etc/prexmon/archiver.yml", "/etc/prexmon/targets/agents.yml")
			}
			for _, f := range config {
				if fl, ok := files[f]; !ok || fl&(rpmFileConfig|rpmFileNoReplace) != rpmFileConfig|rpmFileNoReplace {
					t.Errorf("%s: %s is not %%config(noreplace) (present %v, flags %#x)", filepath.Base(pkg), f, ok, fl)
				}
			}
			for _, f := range []string{"/usr/bin/prexmon-" + prog, "/usr/lib/systemd/system/prexmon-" + prog + ".service"} {
				if _, ok := files[f]; !ok {
					t.Errorf("%s lacks %s", filepath.Base(pkg), f)
				}
			}
			for _, tag := range []int32{rpmPreIn, rpmPostIn, rpmPreUn, rpmPostUn} {
				if len(h.strs[tag]) != 1 || !strings.HasPrefix(h.strs[tag][0], "#!/bin/sh\n") {
					t.Errorf("%s: scriptlet %d missing", filepath.Base(pkg), tag)
				}
			}
		}
	})

	t.Run("reproducible", func(t *testing.T) {
		again := makeRelease(t)
		for _, name := range want {
			a, _ := os.ReadFile(filepath.Join(dist, name))
			b, err := os.ReadFile(filepath.Join(again, name))
			if err != nil || !bytes.Equal(a, b) {
				t.Errorf("%s differs between two builds of one commit (%v)", name, err)
			}
		}
	})
}

// TestMakeVersion checks the version make derives from git is one the
// packages accept.
func TestMakeVersion(t *testing.T) {
	out, err := exec.Command("make", "-s", "-C", repoRoot, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	v := strings.TrimSpace(string(out))
	if !versionRE.MatchString(v) || !regexp.MustCompile(`^([0-9]+\.[0-9]+\.[0-9]+|0\.0\.0-dev\+[0-9a-f]{12}(\.dirty)?)$`).MatchString(v) {
		t.Errorf("make version = %q: want X.Y.Z from a tag or 0.0.0-dev+<12 hex digits>[.dirty]", v)
	}
}

func TestPackagedUnits(t *testing.T) {
	for _, prog := range []string{"exporter", "archiver"} {
		unit, err := packagedUnit(repoRoot, prog)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(unit, "DynamicUser") || strings.Contains(unit, "/usr/local/") || strings.Contains(unit, "/var/lib/prexmon-archiver") {
			t.Errorf("prexmon-%s.service keeps hand-install settings:\n%s", prog, unit)
		}
	}
}

func TestSelectPlatforms(t *testing.T) {
	if got, err := selectPlatforms(""); err != nil || len(got) != 5 {
		t.Errorf("all platforms: %v, %v", got, err)
	}
	if _, err := selectPlatforms("linux/386"); err == nil {
		t.Error("linux/386 accepted")
	}
	for v, ok := range map[string]bool{"0.1.0": true, "0.0.0-dev+0123456789ab.dirty": true, "v0.1.0": false, "dev": false, "0.1": false, "0.1.0-a_b": false} {
		if versionRE.MatchString(v) != ok {
			t.Errorf("version %q accepted = %v, want %v", v, !ok, ok)
		}
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out)
}

// untar extracts a release tarball into dir, checking that every entry has
// the fixed owner and the same time, and returns the entry names.
func untar(t *testing.T, path, dir string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if gz.Name != "" || !gz.ModTime.IsZero() {
		t.Errorf("gzip header carries name %q and time %v", gz.Name, gz.ModTime)
	}
	tr := tar.NewReader(gz)
	var names []string
	var mtime int64
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "root" || h.Gname != "root" {
			t.Errorf("%s owned by %d:%d %s:%s", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if mtime == 0 {
			mtime = h.ModTime.Unix()
		} else if h.ModTime.Unix() != mtime {
			t.Errorf("%s has time %v, others %v", h.Name, h.ModTime, mtime)
		}
		target := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(target, 0o755)
			continue
		}
		data, _ := io.ReadAll(tr)
		if err := os.WriteFile(target, data, h.FileInfo().Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("entries are not sorted: %v", names)
	}
	return names
}
