package api

import (
	"bufio"
	"errors"
	"net/http"
	"net/netip"
	"sync"

	"github.com/prexmon/prexmon/archiver/scrape"
	"github.com/prexmon/prexmon/archiver/store"
)

// streamBufSize batches lines into large writes: few syscalls and few
// chunk headers per megabyte streamed.
const streamBufSize = 256 << 10

var streamBufs = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, streamBufSize) }}

// day streams one day's snapshots inside the success envelope as the file is
// read, so memory does not grow with the day and the first bytes leave at
// once. A read error after the first byte aborts the connection: the client
// sees a truncated response, never a well-formed partial one.
func (a *api) day(w http.ResponseWriter, r *http.Request) {
	ip, err := parseIP(r.PathValue("ip"))
	if err != nil {
		writeError(w, http.StatusBadRequest, errBadData, err.Error())
		return
	}
	date, err := parseDate(r.PathValue("date"))
	if err != nil {
		writeError(w, http.StatusBadRequest, errBadData, err.Error())
		return
	}
	q, err := parseQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, errBadData, err.Error())
		return
	}
	timesOnly, err := dayFields(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, errBadData, err.Error())
		return
	}
	if a.o.Store == nil {
		writeError(w, http.StatusServiceUnavailable, errUnavailable, "storage is not available")
		return
	}
	bw := streamBufs.Get().(*bufio.Writer)
	bw.Reset(w)
	defer func() {
		bw.Reset(nil)
		streamBufs.Put(bw)
	}()
	started := false
	var short []byte
	start := func() {
		started = true
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		bw.WriteString(`{"status":"success","data":[`)
	}
	err = a.o.Store.ReadDay(r.Context(), ip, date, q, func(line []byte) error {
		if timesOnly {
			var ok bool
			if short, ok = appendTimeOnly(short[:0], line); !ok {
				return nil
			}
			line = short
		}
		if !started {
			start()
		} else {
			bw.WriteByte(',')
		}
		_, err := bw.Write(line)
		return err
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, errNotFound, "no snapshots stored for "+ip.String()+" on "+date.Format("2006-01-02"))
		return
	case err != nil && !started:
		a.log.Error("day query failed", "ip", ip, "date", date.Format("2006-01-02"), "err", err)
		writeError(w, http.StatusInternalServerError, errInternal, "cannot read stored snapshots")
		return
	case err != nil:
		if r.Context().Err() == nil {
			a.log.Error("day stream failed", "ip", ip, "date", date.Format("2006-01-02"), "err", err)
		}
		panic(http.ErrAbortHandler)
	}
	if !started {
		start()
	}
	bw.WriteString("]}\n")
	if err := bw.Flush(); err != nil && r.Context().Err() == nil {
		a.log.Debug("day stream write failed", "err", err)
	}
}

func (a *api) latest(w http.ResponseWriter, r *http.Request) {
	ip, err := parseIP(r.PathValue("ip"))
	if err != nil {
		writeError(w, http.StatusBadRequest, errBadData, err.Error())
		return
	}
	if a.o.Store == nil {
		writeError(w, http.StatusServiceUnavailable, errUnavailable, "storage is not available")
		return
	}
	line, err := a.o.Store.Latest(ip)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, errNotFound, "no snapshots stored for "+ip.String())
		return
	}
	if err != nil {
		a.log.Error("latest query failed", "ip", ip, "err", err)
		writeError(w, http.StatusInternalServerError, errInternal, "cannot read stored snapshots")
		return
	}
	body := make([]byte, 0, len(line)+32)
	body = append(body, `{"status":"success","data":`...)
	body = append(body, line...)
	body = append(body, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

func (a *api) files(w http.ResponseWriter, r *http.Request) {
	var only netip.Addr
	if vals, ok := r.URL.Query()["ip"]; ok {
		if len(vals) != 1 {
			writeError(w, http.StatusBadRequest, errBadData, "parameter ip given more than once")
			return
		}
		ip, err := parseIP(vals[0])
		if err != nil {
			writeError(w, http.StatusBadRequest, errBadData, err.Error())
			return
		}
		only = ip
	}
	if a.o.Store == nil {
		writeError(w, http.StatusServiceUnavailable, errUnavailable, "storage is not available")
		return
	}
	files, err := a.o.Store.Files(only)
	if err != nil {
		a.log.Error("files query failed", "err", err)
		writeError(w, http.StatusInternalServerError, errInternal, "cannot list stored files")
		return
	}
	if files == nil {
		files = []store.FileInfo{}
	}
	writeData(w, files)
}

func (a *api) agents(w http.ResponseWriter, r *http.Request) {
	agents := []scrape.AgentStatus{}
	if a.o.Agents != nil {
		if got := a.o.Agents(); got != nil {
			agents = got
		}
	}
	writeData(w, agents)
}
