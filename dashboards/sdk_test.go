package dashboards

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/prometheus/prometheus/promql/parser"
)

// TestStrictSDKDecode decodes every committed dashboard with the foundation
// SDK's strict decoder, which rejects unknown fields and wrongly typed
// values in the dashboard, its variables, links, panels, rows, field
// configs, the typed options of every SDK panel kind, and every Prometheus
// and Infinity query. Each Prometheus query found that way must parse as
// PromQL, and each panel must have decoded to its typed query kind.
func TestStrictSDKDecode(t *testing.T) {
	files, _ := filepath.Glob("*.json")
	if len(files) == 0 {
		t.Fatal("no dashboards")
	}
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			d, err := Decode(raw)
			if err != nil {
				t.Fatalf("strict decode: %v", err)
			}
			panels := Panels(d)
			if len(panels) == 0 {
				t.Fatal("no panels decoded")
			}
			for _, p := range panels {
				title := ""
				if p.Title != nil {
					title = *p.Title
				}
				for _, q := range p.Targets {
					switch q := q.(type) {
					case *prometheus.Dataquery:
						checkPromQL(t, title, q.Expr)
					case InfinityQuery:
						if err := q.Validate(); err != nil {
							t.Errorf("panel %q: %v", title, err)
						}
					default:
						t.Errorf("panel %q: query decoded as %T, not a typed Prometheus or Infinity query", title, q)
					}
				}
			}
		})
	}
}

func checkPromQL(t *testing.T, panel, expr string) {
	t.Helper()
	if _, err := parser.NewParser(parser.Options{}).ParseExpr(Expand(expr, "17s", "3h")); err != nil {
		t.Errorf("panel %q: %v", panel, err)
	}
}
