// Package web serves the archive in a browser: one page (GET /, /?ip=…)
// and its script and style, embedded in the binary, that read the query
// API. No build step, no external resources: it works offline.
package web

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"time"
)

//go:embed static
var files embed.FS

// csp allows only the page's own script, style and API: no inline code,
// no other origin, no framing.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Options describe what the page shows about the archiver itself.
type Options struct {
	Version string
	// Links are shown in the page's footer (metrics, health, API).
	Links []Link
}

// Link is one footer link.
type Link struct {
	Address, Text string
}

// Handler serves GET / and GET /static/…. The page and its files hold no
// archive data: whatever it shows, it fetches from the API with the read
// token the user gives it, so they need none themselves (a browser cannot
// send a bearer token when it navigates).
func Handler(o Options) (http.Handler, error) {
	static, err := fs.Sub(files, "static")
	if err != nil {
		return nil, err
	}
	tmpl, err := template.ParseFS(static, "index.html")
	if err != nil {
		return nil, err
	}
	var page bytes.Buffer
	if err := tmpl.Execute(&page, o); err != nil {
		return nil, err
	}
	index := page.Bytes()
	started := time.Now()
	assets := http.StripPrefix("/static/", http.FileServerFS(static))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if r.URL.Path == "/" {
			h.Set("Cache-Control", "no-cache")
			http.ServeContent(w, r, "index.html", started, bytes.NewReader(index))
			return
		}
		if r.URL.Path == "/static/index.html" || r.URL.Path == "/static/" {
			http.NotFound(w, r)
			return
		}
		h.Set("Cache-Control", "no-cache")
		assets.ServeHTTP(w, r)
	}), nil
}
