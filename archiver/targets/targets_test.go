package targets

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, ext, content string
		want               int // groups; -1 = error
		errPart            string
	}{
		{"yaml", ".yml", "- targets: ['127.0.0.2:9110', 'host-a:9110']\n  labels: {env: prod}\n", 1, ""},
		{"yaml ext", ".YAML", "- targets: ['127.0.0.2:9110']\n", 1, ""},
		{"json", ".json", `[{"targets":["127.0.0.2:9110"],"labels":{"env":"dev"}},{"targets":["[::1]:9110"]}]`, 2, ""},
		{"empty yaml", ".yml", "", 0, ""},
		{"empty json list", ".json", "[]", 0, ""},
		{"yaml unknown key", ".yml", "- targets: ['a:1']\n  lables: {}\n", -1, "lables"},
		{"json unknown key", ".json", `[{"targets":["a:1"],"lables":{}}]`, -1, "lables"},
		{"json trailing", ".json", `[] []`, -1, "trailing"},
		{"json garbage", ".json", `[{"targets":`, -1, "EOF"},
		{"missing port", ".yml", "- targets: ['127.0.0.2']\n", -1, "missing port"},
		{"url target", ".yml", "- targets: ['http://127.0.0.2:9110/x']\n", -1, "target"},
		{"bad label", ".json", `[{"targets":["a:1"],"labels":{"1x":"y"}}]`, -1, "invalid label name"},
		{"not a list", ".yml", "targets: ['a:1']\n", -1, "unmarshal"},
		{"bad extension", ".txt", "[]", -1, "extension"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			groups, err := Parse([]byte(tc.content), tc.ext)
			if tc.want < 0 {
				if err == nil || !strings.Contains(err.Error(), tc.errPart) {
					t.Fatalf("error %v, want one containing %q", err, tc.errPart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(groups) != tc.want {
				t.Fatalf("%d groups, want %d: %+v", len(groups), tc.want, groups)
			}
		})
	}
}

func TestFlattenFirstAddressWins(t *testing.T) {
	got := Flatten(
		[]Group{{Targets: []string{"a:1", "b:1"}, Labels: map[string]string{"src": "static"}}},
		[]Group{{Targets: []string{"b:1", "c:1"}, Labels: map[string]string{"src": "file"}}},
	)
	want := []Target{
		{Address: "a:1", Labels: map[string]string{"src": "static"}},
		{Address: "b:1", Labels: map[string]string{"src": "static"}},
		{Address: "c:1", Labels: map[string]string{"src": "file"}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("target %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
