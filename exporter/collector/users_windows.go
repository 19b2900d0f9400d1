package collector

import (
	"context"
	"errors"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

type unsupportedSessionReader struct{}

func newSessionReader(Config) sessionReader { return unsupportedSessionReader{} }

func (unsupportedSessionReader) Sessions(context.Context) ([]snapshot.User, error) {
	return nil, errors.New("sessions not yet read on Windows")
}
