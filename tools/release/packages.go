package main

import (
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

//go:embed scripts/*.sh
var scripts embed.FS

// A package per program, so that every host gets the agent and only the
// archiver's host gets the archiver.
var packages = []struct {
	program, summary string
	start            bool // enabled and started on first install
}{
	{"exporter", "prexmon exporter: host metrics and snapshots for Prometheus and the archiver", true},
	{"archiver", "prexmon archiver: stores agent snapshots per IP and date and serves them", false},
}

// writePackages writes a .deb and an .rpm of each program for a Linux
// platform, staging generated files (units, scripts) under stage.
func (r *release) writePackages(p platform, bin, stage string) ([]string, error) {
	var names []string
	for _, pkg := range packages {
		name := "prexmon-" + pkg.program
		dir := filepath.Join(stage, p.arch, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		unit, err := packagedUnit(r.root, pkg.program)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, name+".service"), []byte(unit), 0o644); err != nil {
			return nil, err
		}
		sc := map[string]string{}
		for _, s := range []string{"preinstall", "postinstall", "preremove", "postremove"} {
			raw, err := scripts.ReadFile("scripts/" + s + ".sh")
			if err != nil {
				return nil, err
			}
			text := strings.NewReplacer("@UNIT@", name+".service", "@START@", map[bool]string{true: "yes", false: "no"}[pkg.start]).Replace(string(raw))
			sc[s] = filepath.Join(dir, s+".sh")
			if err := os.WriteFile(sc[s], []byte(text), 0o755); err != nil {
				return nil, err
			}
		}
		for _, format := range []string{"deb", "rpm"} {
			info := r.packageInfo(p, pkg.program, pkg.summary, bin, dir, sc)
			packager, err := nfpm.Get(format)
			if err != nil {
				return nil, err
			}
			info = nfpm.WithDefaults(info)
			file := packager.ConventionalFileName(info)
			f, err := os.Create(filepath.Join(r.dist, file))
			if err != nil {
				return nil, err
			}
			if err := packager.Package(info, f); err != nil {
				f.Close()
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			if err := f.Close(); err != nil {
				return nil, err
			}
			names = append(names, file)
		}
	}
	return names, nil
}

// packageInfo describes one program's package. Every file has an explicit
// mode and the commit time, so that the checkout's umask and file times
// cannot leak into the package.
func (r *release) packageInfo(p platform, program, summary, bin, dir string, sc map[string]string) *nfpm.Info {
	name := "prexmon-" + program
	file := func(src, dst string, mode os.FileMode, typ string) *files.Content {
		return &files.Content{
			Source: src, Destination: dst, Type: typ,
			FileInfo: &files.ContentFileInfo{Owner: "root", Group: "root", Mode: mode, MTime: r.mtime},
		}
	}
	repo := func(path string) string { return filepath.Join(r.root, path) }
	doc := "/usr/share/doc/" + name + "/"
	contents := files.Contents{
		file(filepath.Join(bin, program), "/usr/bin/"+name, 0o755, ""),
		file(filepath.Join(dir, name+".service"), "/usr/lib/systemd/system/"+name+".service", 0o644, ""),
		file(repo("deploy/package/"+name+".default"), "/etc/default/"+name, 0o644, files.TypeConfigNoReplace),
		file(repo("LICENSE"), doc+"LICENSE", 0o644, ""),
		file(repo("README.md"), doc+"README.md", 0o644, ""),
		file(repo("CHANGELOG.md"), doc+"CHANGELOG.md", 0o644, ""),
		file(repo("deploy/package/web-config.yml"), doc+"examples/web-config.yml", 0o644, ""),
	}
	// Folders are listed so that the rpm owns them too and removes them.
	ownedDirs := []string{"/etc/prexmon", doc, doc + "examples"}
	if program == "archiver" {
		ownedDirs = append(ownedDirs, "/etc/prexmon/targets")
		contents = append(contents,
			file(repo("deploy/package/archiver.yml"), "/etc/prexmon/archiver.yml", 0o644, files.TypeConfigNoReplace),
			file(repo("deploy/package/agents.yml"), "/etc/prexmon/targets/agents.yml", 0o644, files.TypeConfigNoReplace),
		)
	}
	for _, d := range ownedDirs {
		contents = append(contents, &files.Content{Destination: d, Type: files.TypeDir,
			FileInfo: &files.ContentFileInfo{Owner: "root", Group: "root", Mode: 0o755, MTime: r.mtime}})
	}
	return &nfpm.Info{
		Name:        name,
		Arch:        p.arch,
		Platform:    "linux",
		Version:     r.version,
		Release:     "1",
		Section:     "net",
		Priority:    "optional",
		Maintainer:  "prexmon maintainers <prexmon@users.noreply.github.com>",
		Description: summary,
		Vendor:      "prexmon",
		Homepage:    "https://github.com/prexmon/prexmon",
		License:     "Apache-2.0",
		MTime:       r.mtime,
		Overridables: nfpm.Overridables{
			Contents: contents,
			Umask:    0o022,
			Scripts: nfpm.Scripts{
				PreInstall:  sc["preinstall"],
				PostInstall: sc["postinstall"],
				PreRemove:   sc["preremove"],
				PostRemove:  sc["postremove"],
			},
			RPM: nfpm.RPM{
				Summary:   summary,
				Group:     "System Environment/Daemons",
				BuildHost: "prexmon-release",
				Packager:  "prexmon maintainers",
			},
		},
	}
}

// packagedUnit derives the unit a package installs from the one in
// deploy/systemd, which is written for a hand install: the binary is in
// /usr/bin, the service runs as the package's prexmon user instead of a
// dynamic one, and the archiver keeps its data in /var/lib/prexmon, which
// only that user and group may read (snapshots hold command lines). Every
// replacement must apply exactly once, so that a changed unit fails the
// release instead of shipping half-converted.
func packagedUnit(root, program string) (string, error) {
	name := "prexmon-" + program
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "systemd", name+".service"))
	if err != nil {
		return "", err
	}
	text := string(raw)
	// The header comment explains a hand install; the package did that.
	i := strings.Index(text, "\n[Unit]\n")
	if i < 0 {
		return "", fmt.Errorf("%s.service: no [Unit] section", name)
	}
	text = "# Installed by the " + name + " package; change it with `systemctl edit " + name + "`.\n" +
		"# Extra flags go in /etc/default/" + name + " as ARGS=\"...\".\n" + text[i:]
	repl := [][2]string{
		{"ExecStart=/usr/local/bin/" + name + " ", "ExecStart=/usr/bin/" + name + " "},
		{"\nDynamicUser=yes\n", "\nUser=prexmon\nGroup=prexmon\n"},
	}
	if program == "archiver" {
		repl = append(repl,
			[2]string{"\nStateDirectory=prexmon-archiver\n", "\nStateDirectory=prexmon\nStateDirectoryMode=0700\n"},
			[2]string{" --storage.path=/var/lib/prexmon-archiver ", " --storage.path=/var/lib/prexmon "})
	}
	for _, rp := range repl {
		if n := strings.Count(text, rp[0]); n != 1 {
			return "", fmt.Errorf("deploy/systemd/%s.service: %q appears %d times, want once", name, strings.TrimSpace(rp[0]), n)
		}
		text = strings.Replace(text, rp[0], rp[1], 1)
	}
	return text, nil
}
