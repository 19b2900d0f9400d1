package collector

import (
	"context"
	"errors"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

type unsupportedProcessReader struct{}

func newProcessReader(Config) (processReader, error) { return unsupportedProcessReader{}, nil }

func (unsupportedProcessReader) Processes(context.Context) ([]snapshot.Process, error) {
	return nil, errors.New("process table not yet read on Windows")
}
