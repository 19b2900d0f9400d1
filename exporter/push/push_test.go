package push

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prexmon/prexmon/archiver/intake"
)

// TestSendFallsBackToGzip posts to an intake that knows only the codings it
// is given, as an older archiver does, and checks what arrives.
func TestSendFallsBackToGzip(t *testing.T) {
	plain := []byte(`{"schema_version":1,"host":{"hostname":"h"}}`)
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		accepts []string
		want    []string // Content-Encoding of each request of two pushes, in order
		fails   bool
	}{
		{"current archiver", []string{"zstd", "gzip"}, []string{"zstd", "zstd"}, false},
		// The refusal is remembered: the second push goes straight to gzip.
		{"archiver without zstd", []string{"gzip"}, []string{"zstd", "gzip", "gzip"}, false},
		{"archiver with neither", nil, []string{"zstd", "gzip", "gzip"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var got []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				coding := r.Header.Get("Content-Encoding")
				mu.Lock()
				got = append(got, coding)
				mu.Unlock()
				if r.Header.Get("Authorization") != "Bearer s3cret" {
					http.Error(w, "bad token", http.StatusUnauthorized)
					return
				}
				if !slices.Contains(tc.accepts, coding) {
					http.Error(w, "unsupported Content-Encoding", http.StatusUnsupportedMediaType)
					return
				}
				wire, _ := io.ReadAll(r.Body)
				body, err := intake.Decode(nil, coding, wire, 1<<20)
				if err != nil || string(body) != string(plain) {
					http.Error(w, "body changed", http.StatusBadRequest)
					return
				}
			}))
			defer srv.Close()
			mem := &codingMemory{}
			for range 2 {
				err := send(context.Background(), srv.URL+Path, plain, tok, slog.New(slog.DiscardHandler), mem)
				if (err != nil) != tc.fails {
					t.Fatalf("send: %v, want failure %v", err, tc.fails)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("requests sent %v, want %v", got, tc.want)
			}
		})
	}
}
