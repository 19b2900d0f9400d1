package api

import (
	"bytes"
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

	wire, plain := a.bodyPool.get(), a.bodyPool.get()
	defer a.bodyPool.put(wire)
	defer a.bodyPool.put(plain)
	body, code, typ, err := a.readBody(w, r, wire, plain)
	if err != nil {
		res := "bad_request"
		if code == http.StatusRequestEntityTooLarge {
			res = "too_large"
		}
		fail(code, res, typ, err.Error())
		return
	}
	if err := snapshot.CheckRaw(body); err != nil {
		fail(http.StatusBadRequest, "bad_request", errBadData, err.Error())
		return
	}

	now := time.Now().UTC()
	ctx, cancel := context.WithTimeout(r.Context(), pushTimeout)
	defer cancel()
	err = a.o.Store.AppendSync(ctx, store.Record{IP: client, ScrapedAt: now, Snapshot: body})
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
	a.log.Debug("push stored", "client", client, "bytes", len(body))
	writeData(w, map[string]any{"ip": client.String(), "scraped_at": now, "bytes": len(body)})
}

// readBody returns the pushed snapshot: the raw body, zstd- or
// gzip-encoded or not, or the first part of a multipart form as the
// original Python agents send it. wire holds the body as sent and plain
// the decoded one. The limit applies both to what is sent and to what it
// decodes to, so a small bomb cannot expand past it.
func (a *api) readBody(w http.ResponseWriter, r *http.Request, wire, plain *bytes.Buffer) ([]byte, int, string, error) {
	limit := a.maxBody()
	tooLarge := func() ([]byte, int, string, error) {
		return nil, http.StatusRequestEntityTooLarge, errTooLarge, fmt.Errorf("snapshot larger than %d bytes", limit)
	}
	n, err := wire.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe) || n > limit:
		return tooLarge()
	case err != nil:
		return nil, http.StatusBadRequest, errBadData, fmt.Errorf("cannot read body: %w", err)
	}
	body := wire.Bytes()
	if enc := r.Header.Get("Content-Encoding"); enc != "" {
		out, err := snapshot.Decode(plain.AvailableBuffer(), enc, body, limit)
		switch {
		case errors.Is(err, snapshot.ErrTooLarge):
			return tooLarge()
		case errors.Is(err, snapshot.ErrUnsupportedEncoding):
			return nil, http.StatusUnsupportedMediaType, errUnsupported, err
		case err != nil:
			return nil, http.StatusBadRequest, errBadData, err
		}
		// When out already lives in plain's storage, Write copies the bytes
		// onto themselves; when Decode had to grow past it, Write copies
		// them once more and plain, pooled, is large enough next time.
		plain.Write(out)
		body = plain.Bytes()
	}
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "multipart/form-data" {
		part, err := multipart.NewReader(bytes.NewReader(body), params["boundary"]).NextPart()
		if err != nil {
			return nil, http.StatusBadRequest, errBadData, fmt.Errorf("invalid multipart body: %w", err)
		}
		defer part.Close()
		// The form is the legacy path; a copy of its part costs nothing
		// that matters.
		if body, err = io.ReadAll(part); err != nil {
			return nil, http.StatusBadRequest, errBadData, fmt.Errorf("invalid multipart body: %w", err)
		}
	}
	return body, 0, "", nil
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
	trusted := a.trusted()
	if !isTrusted(trusted, ip) {
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
		if !isTrusted(trusted, ip) {
			break
		}
	}
	return ip, nil
}

func isTrusted(trusted []netip.Prefix, ip netip.Addr) bool {
	for _, p := range trusted {
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
