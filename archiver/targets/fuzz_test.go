package targets

import (
	"testing"

	"github.com/prexmon/prexmon/archiver/config"
)

// FuzzParse feeds arbitrary file_sd content through the parser: it must
// never panic, and whatever it accepts must hold only valid targets and
// labels, since a file_sd file is written by other tools.
func FuzzParse(f *testing.F) {
	for _, seed := range []struct {
		ext, content string
	}{
		{".yml", "- targets: ['127.0.0.2:9110']\n  labels: {env: prod}\n"},
		{".json", `[{"targets":["[::1]:9110","host:1"],"labels":{"a":"b"}}]`},
		{".yml", "- targets: [\n"},
		{".json", `[{"targets":["a:1"]}] trailing`},
		{".yaml", "- {targets: [a:1], labels: {\"1x\": y}}\n"},
	} {
		f.Add(seed.ext, []byte(seed.content))
	}
	f.Fuzz(func(t *testing.T, ext string, content []byte) {
		groups, err := Parse(content, ext)
		if err != nil {
			return
		}
		for _, g := range groups {
			for _, tg := range g.Targets {
				if err := config.CheckTarget(tg); err != nil {
					t.Fatalf("accepted bad target: %v", err)
				}
			}
			if err := config.CheckLabels(g.Labels); err != nil {
				t.Fatalf("accepted bad labels: %v", err)
			}
		}
		Flatten(groups)
	})
}
