package agent

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prexmon/prexmon/archiver/intake"
	"github.com/prexmon/prexmon/exporter/snapshot"
)

func TestEncodeRealistic(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for seed := range uint64(16) {
		b, err := Encode(seed, now, gzip.BestSpeed)
		if err != nil {
			t.Fatal(err)
		}
		if err := intake.CheckRaw(b.JSON); err != nil {
			t.Fatalf("seed %d: CheckRaw: %v", seed, err)
		}
		dec := json.NewDecoder(bytes.NewReader(b.JSON))
		dec.DisallowUnknownFields()
		var s snapshot.Snapshot
		if err := dec.Decode(&s); err != nil {
			t.Fatalf("seed %d: decode: %v", seed, err)
		}
		if len(s.Processes) != NumProcesses {
			t.Errorf("seed %d: %d processes, want %d", seed, len(s.Processes), NumProcesses)
		}
		if n := len(b.JSON); n < 85_000 || n > 125_000 {
			t.Errorf("seed %d: body %d bytes, want about 100 KB", seed, n)
		}
		if r := b.Ratio(); r < 3.5 || r > 4.5 {
			t.Errorf("seed %d: gzip ratio %.2f, want 3.5..4.5", seed, r)
		}
		zr, err := gzip.NewReader(bytes.NewReader(b.Gzip))
		if err != nil {
			t.Fatal(err)
		}
		if plain, err := io.ReadAll(zr); err != nil || !bytes.Equal(plain, b.JSON) {
			t.Fatalf("seed %d: gzip body does not round-trip: %v", seed, err)
		}
		if plain, err := intake.Decode(nil, snapshot.Zstd, b.Zstd, 16<<20); err != nil || !bytes.Equal(plain, b.JSON) {
			t.Fatalf("seed %d: zstd body does not round-trip: %v", seed, err)
		}
		if r := b.ZstdRatio(); r < 3.5 || r > 6 {
			t.Errorf("seed %d: zstd ratio %.2f, want 3.5..6", seed, r)
		}
		kernel, java := 0, 0
		for _, p := range s.Processes {
			if p.Cmdline == "" {
				kernel++
			}
			if p.Name == "java" && len(p.Cmdline) > 1000 {
				java++
			}
		}
		if kernel < 30 || java < 1 {
			t.Errorf("seed %d: %d kernel threads and %d long java command lines, want a realistic mix", seed, kernel, java)
		}
	}
}

func TestEncodeStableIdentity(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	a, b := Generate(7, t0), Generate(7, t0.Add(5*time.Second))
	if a.Host.Hostname != b.Host.Hostname || a.Processes[200].Cmdline != b.Processes[200].Cmdline {
		t.Error("the same seed must describe the same machine")
	}
	if !b.CollectedAt.After(a.CollectedAt) {
		t.Error("collected_at must follow now")
	}
	if Generate(8, t0).Host.Hostname == a.Host.Hostname && Generate(9, t0).Host.Hostname == a.Host.Hostname {
		t.Error("different seeds should describe different machines")
	}
}

func TestParseAddresses(t *testing.T) {
	tests := []struct {
		spec        string
		n           int
		first, last string
		wantErr     string
	}{
		{spec: "127.0.0.2", n: 1, first: "127.0.0.2", last: "127.0.0.2"},
		{spec: "127.0.0.2-127.0.19.137", n: 5000, first: "127.0.0.2", last: "127.0.19.137"},
		{spec: "127.0.0.250-127.0.1.3, 127.0.0.1", n: 11, first: "127.0.0.250", last: "127.0.0.1"},
		{spec: "127.0.0.2-127.0.0.3,127.0.0.3", n: 2, first: "127.0.0.2", last: "127.0.0.3"},
		{spec: "::1", n: 1, first: "::1", last: "::1"},
		{spec: "", wantErr: "empty"},
		{spec: "10.0.0.1", wantErr: "not loopback"},
		{spec: "127.0.0.9-127.0.0.2", wantErr: "backwards"},
		{spec: "127.0.0.1-::1", wantErr: "mixes"},
		{spec: "127.0.0.1-127.1.0.0", wantErr: "more than"},
		{spec: "localhost", wantErr: "parse address"},
		{spec: "127.0.0.1-", wantErr: "parse address"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseAddresses(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.n || got[0].String() != tt.first || got[len(got)-1].String() != tt.last {
				t.Fatalf("got %d addresses %v..%v, want %d %s..%s", len(got), got[0], got[len(got)-1], tt.n, tt.first, tt.last)
			}
		})
	}
}

func TestConsecutive(t *testing.T) {
	got, err := Consecutive("127.0.0.254", 3)
	if err != nil || len(got) != 3 || got[2] != netip.MustParseAddr("127.0.1.0") {
		t.Fatalf("Consecutive = %v, %v", got, err)
	}
	for _, bad := range []struct {
		first string
		n     int
	}{{"127.255.255.254", 3}, {"192.168.1.1", 1}, {"127.0.0.2", 0}, {"127.0.0.2", MaxAgents + 1}} {
		if _, err := Consecutive(bad.first, bad.n); err == nil {
			t.Errorf("Consecutive(%s, %d) succeeded", bad.first, bad.n)
		}
	}
}

// freePort finds a port free on the first address; the fleet binds the
// same port on every address of a range nobody else uses.
func freePort(t *testing.T, a netip.Addr) int {
	t.Helper()
	l, err := net.Listen("tcp", netip.AddrPortFrom(a, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startFleet(t *testing.T, n int) *Fleet {
	t.Helper()
	addrs, err := Consecutive("127.77.0.1", n)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Start(Options{Addrs: addrs, Port: freePort(t, addrs[0]), Variants: 4, Record: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

func TestFleetServesEveryAgent(t *testing.T) {
	n := 5000
	if testing.Short() || raceEnabled {
		n = 500
	}
	f := startFleet(t, n)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true}}
	targets := f.Targets()
	work := make(chan int)
	errs := make(chan error, len(targets))
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range work {
				// Validating every body would test CheckRaw, not the fleet.
				accept, want := "", snapshot.Identity
				switch {
				case i%7 == 0:
					accept, want = "gzip", snapshot.Gzip
				case i%5 == 0:
					accept, want = snapshot.AcceptEncoding, snapshot.Zstd
				}
				if err := checkAgent(client, targets[i], accept, want, i%50 == 0); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range targets {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := f.Stats()
	if st.Snapshots != int64(n) {
		t.Errorf("served %d snapshots, want %d", st.Snapshots, n)
	}
	if wantGzip, wantZstd := int64((n+6)/7), int64((n+4)/5-(n+34)/35); st.GzipSnapshots != wantGzip || st.ZstdSnapshots != wantZstd {
		t.Errorf("served %d gzip and %d zstd snapshots, want %d and %d", st.GzipSnapshots, st.ZstdSnapshots, wantGzip, wantZstd)
	}
	for _, i := range []int{0, n / 2, n - 1} {
		if got := len(f.Arrivals(i)); got != 1 {
			t.Errorf("agent %d: %d arrivals recorded, want 1", i, got)
		}
	}
}

func checkAgent(client *http.Client, target, accept, want string, validate bool) error {
	req, err := http.NewRequest(http.MethodGet, "http://"+target+"/snapshot", nil)
	if err != nil {
		return err
	}
	if accept != "" {
		req.Header.Set("Accept-Encoding", accept)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	wire, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	coding := resp.Header.Get("Content-Encoding")
	if coding == "" {
		coding = snapshot.Identity
	}
	if coding != want {
		return fmt.Errorf("%s: Accept-Encoding %q answered with %q, want %q", target, accept, coding, want)
	}
	raw, err := intake.Decode(nil, coding, wire, 16<<20)
	if err != nil {
		return fmt.Errorf("%s: %w", target, err)
	}
	if len(raw) < 50_000 {
		return fmt.Errorf("%s: body of %d bytes", target, len(raw))
	}
	if !validate {
		return nil
	}
	return intake.CheckRaw(raw)
}

func TestFleetRejectsBusyAddress(t *testing.T) {
	a := netip.MustParseAddr("127.77.1.1")
	l, err := net.Listen("tcp", netip.AddrPortFrom(a, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = Start(Options{Addrs: []netip.Addr{netip.MustParseAddr("127.77.1.0"), a}, Port: port, Variants: 1})
	if err == nil || !strings.Contains(err.Error(), "agent 2 of 2") {
		t.Fatalf("Start on a busy address: err = %v", err)
	}
	// The first address must have been released again.
	l2, err := net.Listen("tcp", netip.AddrPortFrom(netip.MustParseAddr("127.77.1.0"), uint16(port)).String())
	if err != nil {
		t.Fatalf("listener of a failed Start leaked: %v", err)
	}
	l2.Close()
}

func BenchmarkEncode(b *testing.B) {
	now := time.Now()
	for b.Loop() {
		if _, err := Encode(3, now, gzip.BestSpeed); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckRawRealistic(b *testing.B) {
	body, err := Encode(3, time.Now(), gzip.BestSpeed)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body.JSON)))
	for b.Loop() {
		if err := intake.CheckRaw(body.JSON); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCodingsRealistic prices each coding on both sides for a
// realistic snapshot: what an agent pays to compress it and what the
// archiver pays to decode it.
func BenchmarkCodingsRealistic(b *testing.B) {
	body, err := Encode(3, time.Now(), gzip.BestSpeed)
	if err != nil {
		b.Fatal(err)
	}
	for _, coding := range []string{snapshot.Zstd, snapshot.Gzip} {
		enc, err := snapshot.AppendEncoded(nil, coding, body.JSON)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("encode/"+coding, func(b *testing.B) {
			b.SetBytes(int64(len(body.JSON)))
			b.ReportMetric(float64(len(body.JSON))/float64(len(enc)), "ratio")
			var out []byte
			for b.Loop() {
				if out, err = snapshot.AppendEncoded(out[:0], coding, body.JSON); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("decode/"+coding, func(b *testing.B) {
			b.SetBytes(int64(len(body.JSON)))
			var out []byte
			for b.Loop() {
				if out, err = intake.Decode(out[:0], coding, enc, 16<<20); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("encode/stdlib-gzip", func(b *testing.B) {
		b.SetBytes(int64(len(body.JSON)))
		var out bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&out, gzip.BestSpeed)
		for b.Loop() {
			out.Reset()
			zw.Reset(&out)
			zw.Write(body.JSON)
			zw.Close()
		}
	})
}
