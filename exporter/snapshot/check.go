package snapshot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNotSnapshot is wrapped by CheckRaw's errors so callers can count
// garbage separately from transport failures.
var ErrNotSnapshot = errors.New("not a snapshot")

// CheckRaw reports whether raw is one valid JSON object carrying a
// schema_version this build understands. It does not decode the snapshot:
// the archiver stores the agent's bytes verbatim and must not pay for a
// decode and re-encode of every 100 KB body.
func CheckRaw(raw []byte) error {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return fmt.Errorf("%w: body is not a JSON object", ErrNotSnapshot)
	}
	if !json.Valid(trimmed) {
		return fmt.Errorf("%w: invalid JSON", ErrNotSnapshot)
	}
	v, err := schemaVersion(trimmed)
	if err != nil {
		return err
	}
	if v < 1 || v > SchemaVersion {
		return fmt.Errorf("%w: unsupported schema_version %d (this build reads 1..%d)", ErrNotSnapshot, v, SchemaVersion)
	}
	return nil
}

// schemaVersion finds the top-level schema_version with a token scan that
// skips nested values without allocating them.
func schemaVersion(obj []byte) (int, error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // the opening brace
		return 0, fmt.Errorf("%w: %v", ErrNotSnapshot, err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return 0, fmt.Errorf("%w: %v", ErrNotSnapshot, err)
		}
		key, _ := tok.(string)
		if key != "schema_version" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return 0, fmt.Errorf("%w: %v", ErrNotSnapshot, err)
			}
			continue
		}
		var val any
		if err := dec.Decode(&val); err != nil {
			return 0, fmt.Errorf("%w: %v", ErrNotSnapshot, err)
		}
		n, ok := val.(json.Number)
		if !ok {
			return 0, fmt.Errorf("%w: schema_version is not a number", ErrNotSnapshot)
		}
		v, err := n.Int64()
		if err != nil {
			return 0, fmt.Errorf("%w: schema_version %q is not an integer", ErrNotSnapshot, n)
		}
		return int(v), nil
	}
	return 0, fmt.Errorf("%w: no schema_version", ErrNotSnapshot)
}
