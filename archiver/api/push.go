package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prexmon/prexmon/archiver/store"
	"github.com/prexmon/prexmon/exporter/snapshot"
)

// pushTimeout bounds how long a push waits for its fsync before the client
// is told to retry.
const pushTimeout = 30 * time.Second

// push takes a snapshot from an agent that the archiver cannot reach. The
// 200 is sent only after the line is fsynced, so an acknowledged push
// survives a crash; the agent retries anything else.
func (a *api) push(w http.ResponseWriter, r *http.Request) {
	result := "error"
	defer func() { a.pushes.WithLabelValues(result).Inc() }()
	fail := func(code int, res, typ, msg string) {
		result = res
		writeError(w, code, typ, msg)
	}

	if a.o.Store == nil {
		fail(http.StatusServiceUnavailable, "error", errUnavailable, "storage is not available")
		return
	}
	client, err := a.clientIP(r)
	if err != nil {
		fail(http.StatusBadRequest, "bad_request", errBadData, err.Error())
		return
	}
	if a.o.PushAllowed != nil && !a.o.PushAllowed(client) {
		fail(http.StatusForbidden, "forbidden", errForbidden, "pushes from "+client.String()+" are not allowed (api.push_allowed_cidrs)")
		return
	}
	var tokens []string
	if a.o.WriteTokens != nil {
		tokens = a.o.WriteTokens()
	}
	if len(tokens) == 0 {
		fail(http.StatusForbidden, "forbidden", errForbidden, "push is disabled: no write tokens configured (api.write_tokens_file)")
		return
	}
	if !bearerOK(r, tokens) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="prexmon"`)
		fail(http.StatusUnauthorized, "unauthorized", errUnauthorized, "a valid write token is required (Authorization: Bearer <token>)")
		return
	}

	buf := a.bodyPool.get()
	defer a.bodyPool.put(buf)
	code, typ, err := a.readBody(w, r, buf)
	if err != nil {
		res := "bad_request"
		if code == http.StatusRequestEntityTooLarge {
			res = "too_large"
		}
		fail(code, res, typ, err.Error())
		return
	}
	if err := snapshot.CheckRaw(buf.Bytes()); err != nil {
		fail(http.StatusBadRequest, "bad_request", errBadData, err.Error())
		return
	}

	now := time.Now().UTC()
	ctx, cancel := context.WithTimeout(r.Context(), pushTimeout)
	defer cancel()
	err = a.o.Store.AppendSync(ctx, store.Record{IP: client, ScrapedAt: now, Snapshot: buf.Bytes()})
	switch {
	case errors.Is(err, store.ErrClosed):
		fail(http.StatusServiceUnavailable, "error", errUnavailable, "archiver is shutting down; retry")
		return
	case err != nil:
		a.log.Error("push not stored", "client", client, "err", err)
		fail(http.StatusServiceUnavailable, "error", errUnavailable, "snapshot not stored; retry")
		return
	}
	result = "stored"
	a.log.Debug("push stored", "client", client, "bytes", buf.Len())
	writeData(w, map[string]any{"ip": client.String(), "scraped_at": now, "bytes": buf.Len()})
}

// readBody reads the pushed snapshot into buf: the raw body, gzip-encoded
// or not, or the first part of a multipart form as the original Python
// agents send it. The limit applies after decompression, so a small gzip
// bomb cannot inflate past it.
func (a *api) readBody(w http.ResponseWriter, r *http.Request, buf *bytes.Buffer) (int, string, error) {
	var body io.Reader = http.MaxBytesReader(w, r.Body, a.maxBody)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return http.StatusBadRequest, errBadData, fmt.Errorf("invalid gzip body: %w", err)
		}
		defer zr.Close()
		body = zr
	default:
		return http.StatusUnsupportedMediaType, errUnsupported, fmt.Errorf("unsupported Content-Encoding %q (use gzip or none)", truncate(enc))
	}
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "multipart/form-data" {
		part, err := multipart.NewReader(body, params["boundary"]).NextPart()
		if err != nil {
			return http.StatusBadRequest, errBadData, fmt.Errorf("invalid multipart body: %w", err)
		}
		defer part.Close()
		body = part
	}
	n, err := buf.ReadFrom(io.LimitReader(body, a.maxBody+1))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge) || n > a.maxBody:
		return http.StatusRequestEntityTooLarge, errTooLarge, fmt.Errorf("snapshot larger than %d bytes", a.maxBody)
	case err != nil:
		return http.StatusBadRequest, errBadData, fmt.Errorf("cannot read body: %w", err)
	}
	return 0, "", nil
}

// clientIP is the pushing agent's address: the TCP peer, or, when the peer
// is a trusted proxy, the right-most X-Forwarded-For entry that is not
// itself a trusted proxy.
func (a *api) clientIP(r *http.Request) (netip.Addr, error) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("cannot parse client address %q", r.RemoteAddr)
	}
	ip := ap.Addr().Unmap().WithZone("")
	if !a.isTrusted(ip) {
		return ip, nil
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		hop, err := netip.ParseAddr(h)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("invalid X-Forwarded-For entry %q", truncate(h))
		}
		ip = hop.Unmap().WithZone("")
		if !a.isTrusted(ip) {
			break
		}
	}
	return ip, nil
}

func (a *api) isTrusted(ip netip.Addr) bool {
	for _, p := range a.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// bufferPool recycles push bodies; oversized buffers are dropped so one
// large push does not pin its memory forever.
type bufferPool struct{ p sync.Pool }

const maxPooledBody = 1 << 20

func (b *bufferPool) get() *bytes.Buffer {
	if buf, ok := b.p.Get().(*bytes.Buffer); ok {
		buf.Reset()
		return buf
	}
	return new(bytes.Buffer)
}

func (b *bufferPool) put(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledBody {
		b.p.Put(buf)
	}
}
