package main

import (
	"archive/tar"
	"archive/zip"
	"compress/flate"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// entry is one file of an archive, read from src.
type entry struct {
	name string // slash-separated, inside the archive's top folder
	src  string
	mode os.FileMode
}

// archiveEntries lists what an archive holds besides the binaries: the
// licence, the docs, example configs and the platform's service files.
func (r *release) archiveEntries(p platform, bin string) []entry {
	doc := func(name, src string) entry { return entry{name, filepath.Join(r.root, src), 0o644} }
	es := []entry{
		doc("LICENSE", "LICENSE"),
		doc("README.md", "README.md"),
		doc("CHANGELOG.md", "CHANGELOG.md"),
		doc("web-config.yml", "deploy/package/web-config.yml"),
	}
	for _, prog := range p.programs {
		es = append(es, entry{p.exe(prog), filepath.Join(bin, p.exe(prog)), 0o755})
		if prog == "archiver" {
			es = append(es,
				doc("archiver.yml", "deploy/package/archiver.yml"),
				doc("targets/agents.yml", "deploy/package/agents.yml"))
		}
	}
	switch p.os {
	case "linux":
		for _, prog := range p.programs {
			unit := "prexmon-" + prog + ".service"
			es = append(es, doc("systemd/"+unit, "deploy/systemd/"+unit))
		}
	case "windows":
		es = append(es,
			doc("install.ps1", "deploy/windows/install.ps1"),
			doc("uninstall.ps1", "deploy/windows/uninstall.ps1"))
	}
	return es
}

// writeArchive writes prexmon-<version>.<os>-<arch>.tar.gz (.zip for
// Windows) with every entry under one top folder of the same name.
func (r *release) writeArchive(p platform, bin string) (string, error) {
	top := fmt.Sprintf("prexmon-%s.%s-%s", r.version, p.os, p.arch)
	name := top + ".tar.gz"
	write := r.writeTarGz
	if p.os == "windows" {
		name, write = top+".zip", r.writeZip
	}
	f, err := os.Create(filepath.Join(r.dist, name))
	if err != nil {
		return "", err
	}
	if err := write(f, top, r.archiveEntries(p, bin)); err != nil {
		f.Close()
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return name, f.Close()
}

// tree returns the entries under top, each folder included (with no src
// and a trailing slash), sorted by name: a folder before what it holds.
func tree(top string, es []entry) []entry {
	seen := map[string]bool{}
	out := []entry{{name: top + "/"}}
	for _, e := range es {
		out = append(out, entry{top + "/" + e.name, e.src, e.mode})
		for d := path.Dir(e.name); d != "."; d = path.Dir(d) {
			if !seen[d] {
				seen[d] = true
				out = append(out, entry{name: top + "/" + d + "/"})
			}
		}
	}
	slices.SortFunc(out, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	return out
}

// writeTarGz writes a tarball that depends only on the entries' contents:
// sorted names, the commit time, root ownership by number and name, fixed
// modes, and a gzip header without file name or time.
func (r *release) writeTarGz(w io.Writer, top string, es []entry) error {
	gz, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	hdr := func(name string, mode os.FileMode, size int64, typ byte) *tar.Header {
		return &tar.Header{
			Typeflag: typ, Name: name, Mode: int64(mode), Size: size,
			ModTime: r.mtime, Uname: "root", Gname: "root", Format: tar.FormatUSTAR,
		}
	}
	for _, e := range tree(top, es) {
		if e.src == "" {
			if err := tw.WriteHeader(hdr(e.name, 0o755, 0, tar.TypeDir)); err != nil {
				return err
			}
			continue
		}
		data, err := os.ReadFile(e.src)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(hdr(e.name, e.mode, int64(len(data)), tar.TypeReg)); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

// writeZip writes a zip archive with the same properties as writeTarGz.
func (r *release) writeZip(w io.Writer, top string, es []entry) error {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestCompression)
	})
	for _, e := range tree(top, es) {
		if e.src == "" {
			h := &zip.FileHeader{Name: e.name, Method: zip.Store, Modified: r.mtime}
			h.SetMode(os.ModeDir | 0o755)
			if _, err := zw.CreateHeader(h); err != nil {
				return err
			}
			continue
		}
		data, err := os.ReadFile(e.src)
		if err != nil {
			return err
		}
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: r.mtime}
		h.SetMode(e.mode)
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if _, err := fw.Write(data); err != nil {
			return err
		}
	}
	return zw.Close()
}
