package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
)

// InfinityPlugin is the Grafana plugin id of the Infinity datasource, which
// reads the archiver's JSON API.
const InfinityPlugin = "yesoreyeram-infinity-datasource"

// InfinityQuery is one HTTP request of the Infinity datasource to the
// archiver's API. The foundation SDK ships no type for this plugin, so it is
// declared here as a dataquery variant and registered with the SDK's
// runtime: strict decoding then rejects any field this type does not know,
// as it does for the Prometheus queries.
type InfinityQuery struct {
	Columns      []Column              `json:"columns,omitempty"`
	Datasource   *common.DataSourceRef `json:"datasource,omitempty"`
	Format       string                `json:"format,omitempty"`
	Parser       string                `json:"parser,omitempty"`
	RefID        string                `json:"refId"`
	RootSelector string                `json:"root_selector,omitempty"`
	Source       string                `json:"source,omitempty"`
	Type         string                `json:"type,omitempty"`
	URL          string                `json:"url,omitempty"`
	URLOptions   *URLOptions           `json:"url_options,omitempty"`
}

// Column maps a field of the JSON the Infinity datasource fetched to a
// table column.
type Column struct {
	Selector string `json:"selector"`
	Text     string `json:"text"`
	Type     string `json:"type"`
}

// URLOptions is the HTTP method, query parameters and body of an Infinity
// request.
type URLOptions struct {
	Data   string     `json:"data"`
	Method string     `json:"method"`
	Params []URLParam `json:"params,omitempty"`
}

// URLParam is one query parameter Infinity adds to the URL (it encodes the
// value, so dates with ':' and '+' arrive intact).
type URLParam struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func (InfinityQuery) ImplementsDataqueryVariant() {}

// DataqueryType is the plugin id, which is also what the SDK's runtime looks
// the variant up by.
func (InfinityQuery) DataqueryType() string { return InfinityPlugin }

// Validate requires what a request to the archiver needs.
func (q InfinityQuery) Validate() error {
	if q.URL == "" || q.RefID == "" {
		return fmt.Errorf("infinity query %q: url and refId are required", q.RefID)
	}
	return nil
}

// Equals compares two queries field by field.
func (q InfinityQuery) Equals(other variants.Dataquery) bool {
	o, ok := other.(InfinityQuery)
	return ok && reflect.DeepEqual(q, o)
}

// Build lets a query stand where the SDK's builders take a
// cog.Builder[variants.Dataquery].
func (q InfinityQuery) Build() (variants.Dataquery, error) { return q, q.Validate() }

var registerOnce sync.Once

// RegisterPlugins registers the SDK's panel and query types and the
// Infinity query with the SDK's runtime; decoding a dashboard needs them.
func RegisterPlugins() {
	registerOnce.Do(func() {
		plugins.RegisterDefaultPlugins()
		cog.NewRuntime().RegisterDataqueryVariant(variants.DataqueryConfig{
			Identifier: InfinityPlugin,
			DataqueryUnmarshaler: func(raw []byte) (variants.Dataquery, error) {
				var q InfinityQuery
				err := json.Unmarshal(raw, &q)
				return q, err
			},
			StrictDataqueryUnmarshaler: strictInfinity,
		})
	})
}

// strictInfinity decodes an Infinity query, refusing unknown fields.
func strictInfinity(raw []byte) (variants.Dataquery, error) {
	var q InfinityQuery
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		return nil, fmt.Errorf("infinity query: %w", err)
	}
	return q, nil
}
