// Package deploy holds the deployment files (Dockerfiles, compose wiring,
// systemd units, cloud-init, Prometheus and Alertmanager configuration) and
// the tests that load them with the same parsers the real tools use.
package deploy

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"go.yaml.in/yaml/v3"

	"github.com/prexmon/prexmon/archiver/config"
)

const testPassword = "s3cret-for-test"

func loadProject(t *testing.T, env ...string) (*types.Project, error) {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithName("prexmon"),
		cli.WithEnv(env),
	)
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

func project(t *testing.T) *types.Project {
	t.Helper()
	p, err := loadProject(t, "GRAFANA_ADMIN_PASSWORD="+testPassword)
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("service %s missing", name)
	}
	return s
}

func TestComposeServicesAndHealthchecks(t *testing.T) {
	p := project(t)
	want := []string{"alertmanager", "archiver", "exporter", "grafana", "prometheus"}
	got := p.ServiceNames()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("services %v, want %v", got, want)
	}
	for _, name := range want {
		s := service(t, p, name)
		hc := s.HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Test[0] != "CMD" {
			t.Errorf("%s: want an exec-form healthcheck, got %+v", name, hc)
			continue
		}
		if !strings.HasPrefix(hc.Test[len(hc.Test)-1], "http://127.0.0.1:") {
			t.Errorf("%s: healthcheck %v does not probe the service itself", name, hc.Test)
		}
		if s.Restart != "unless-stopped" {
			t.Errorf("%s: restart %q, want unless-stopped", name, s.Restart)
		}
	}
}

// TestComposeDependsOnStarted checks start-up order waits for the targets
// to start, not to be healthy: one sick target must not keep Prometheus,
// and with it every alert about that target, from starting.
func TestComposeDependsOnStarted(t *testing.T) {
	p := project(t)
	for _, tc := range []struct {
		service string
		needs   []string
	}{
		{"prometheus", []string{"alertmanager", "archiver", "exporter"}},
		{"grafana", []string{"prometheus"}},
	} {
		s := service(t, p, tc.service)
		var got []string
		for dep, cond := range s.DependsOn {
			got = append(got, dep)
			if cond.Condition != types.ServiceConditionStarted {
				t.Errorf("%s depends on %s with condition %q, want service_started", tc.service, dep, cond.Condition)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.needs) {
			t.Errorf("%s depends on %v, want %v", tc.service, got, tc.needs)
		}
	}
}

func TestComposeExporterSeesHost(t *testing.T) {
	s := service(t, project(t), "exporter")
	if s.Pid != "host" {
		t.Errorf("exporter pid %q, want host (to see every process)", s.Pid)
	}
	if s.NetworkMode != "host" {
		t.Errorf("exporter network_mode %q, want host (to see the host's interfaces)", s.NetworkMode)
	}
	for _, tc := range []struct{ source, target, flag, propagation string }{
		{"/proc", "/host/proc", "--path.procfs", ""},
		{"/sys", "/host/sys", "--path.sysfs", ""},
		{"/", "/rootfs", "--path.rootfs", "rslave"},
	} {
		i := slices.IndexFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == tc.target })
		if i < 0 {
			t.Errorf("exporter: no mount at %s", tc.target)
			continue
		}
		v := s.Volumes[i]
		if v.Type != types.VolumeTypeBind || v.Source != tc.source || !v.ReadOnly {
			t.Errorf("exporter: mount at %s is %+v, want host %s read-only", tc.target, v, tc.source)
		}
		if tc.propagation != "" && (v.Bind == nil || v.Bind.Propagation != tc.propagation) {
			t.Errorf("exporter: mount at %s propagation %+v, want %s", tc.target, v.Bind, tc.propagation)
		}
		if !slices.Contains(s.Command, tc.flag+"="+tc.target) {
			t.Errorf("exporter command %v lacks %s=%s", s.Command, tc.flag, tc.target)
		}
	}
	// The exporter shares the host's network: it listens on loopback (for
	// its healthcheck) and on the docker0 bridge the other services reach
	// as host.docker.internal, not on every interface of the host.
	var listen []string
	for _, arg := range s.Command {
		if v, ok := strings.CutPrefix(arg, "--web.listen-address="); ok {
			listen = append(listen, v)
		}
	}
	if want := []string{"127.0.0.1:9110", "172.17.0.1:9110"}; !slices.Equal(listen, want) {
		t.Errorf("exporter listens on %v, want %v", listen, want)
	}
	p, err := loadProject(t, "GRAFANA_ADMIN_PASSWORD="+testPassword, "PREXMON_EXPORTER_ADDRESS=192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(service(t, p, "exporter").Command, "--web.listen-address=192.0.2.7:9110") {
		t.Errorf("PREXMON_EXPORTER_ADDRESS does not set the exporter's second address: %v", service(t, p, "exporter").Command)
	}
}

func TestComposePortsAndVolumes(t *testing.T) {
	p := project(t)
	openProject, err := loadProject(t, "GRAFANA_ADMIN_PASSWORD="+testPassword, "PREXMON_BIND=0.0.0.0")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		service  string
		port     uint32
		dataPath string
	}{
		{"prometheus", 9090, "/prometheus"},
		{"alertmanager", 9093, "/alertmanager"},
		{"grafana", 3000, "/var/lib/grafana"},
		{"archiver", 5000, "/data"},
	} {
		s := service(t, p, tc.service)
		if len(s.Ports) != 1 || s.Ports[0].Target != tc.port || s.Ports[0].Published != strconv.FormatUint(uint64(tc.port), 10) {
			t.Errorf("%s ports %+v, want %d:%d", tc.service, s.Ports, tc.port, tc.port)
		}
		// Docker-published ports bypass the host's firewall: loopback
		// unless PREXMON_BIND says otherwise.
		if len(s.Ports) == 1 && s.Ports[0].HostIP != "127.0.0.1" {
			t.Errorf("%s publishes port %d on %q, want 127.0.0.1 by default", tc.service, tc.port, s.Ports[0].HostIP)
		}
		if open := service(t, openProject, tc.service); len(open.Ports) != 1 || open.Ports[0].HostIP != "0.0.0.0" {
			t.Errorf("%s with PREXMON_BIND=0.0.0.0: ports %+v, want published on 0.0.0.0", tc.service, open.Ports)
		}
		i := slices.IndexFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == tc.dataPath })
		if i < 0 || s.Volumes[i].Type != types.VolumeTypeVolume {
			t.Errorf("%s: data at %s is not on a named volume", tc.service, tc.dataPath)
		} else if _, ok := p.Volumes[s.Volumes[i].Source]; !ok {
			t.Errorf("%s: volume %s is not declared", tc.service, s.Volumes[i].Source)
		}
	}
	// Every file the stack mounts from the checkout must exist, or Docker
	// silently creates an empty directory in its place.
	for _, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind || s.Name == "exporter" {
				continue
			}
			if !v.ReadOnly {
				t.Errorf("%s: bind mount %s is writable", s.Name, v.Target)
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("%s: bind mount source: %v", s.Name, err)
			}
		}
	}
}

func TestComposeGrafana(t *testing.T) {
	s := service(t, project(t), "grafana")
	env := func(k string) string {
		if v := s.Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	if env("GF_SECURITY_ADMIN_PASSWORD") != testPassword {
		t.Errorf("admin password %q does not come from GRAFANA_ADMIN_PASSWORD", env("GF_SECURITY_ADMIN_PASSWORD"))
	}
	if !regexp.MustCompile(`(^|,)yesoreyeram-infinity-datasource@\d+\.\d+\.\d+(,|$)`).MatchString(env("GF_PLUGINS_PREINSTALL")) {
		t.Errorf("the Infinity plugin the Snapshots dashboard needs is not installed at a pinned version (id@x.y.z): %q", env("GF_PLUGINS_PREINSTALL"))
	}
	if env("GF_AUTH_ANONYMOUS_ENABLED") != "false" {
		t.Errorf("anonymous access %q, want false", env("GF_AUTH_ANONYMOUS_ENABLED"))
	}
	mounts := map[string]string{}
	for _, v := range s.Volumes {
		mounts[v.Target] = v.Source
	}
	root, _ := filepath.Abs("..")
	for target, source := range map[string]string{
		"/etc/grafana/provisioning/datasources": "dashboards/provisioning/datasources",
		"/etc/grafana/provisioning/dashboards":  "dashboards/provisioning/dashboards",
		"/etc/grafana/dashboards/prexmon":       "dashboards",
	} {
		if mounts[target] != filepath.Join(root, source) {
			t.Errorf("grafana mounts %q at %s, want %s", mounts[target], target, source)
		}
	}
	// Each provisioned datasource URL names a compose service and its port.
	p := project(t)
	raw, err := os.ReadFile("../dashboards/provisioning/datasources/prexmon.yml")
	if err != nil {
		t.Fatal(err)
	}
	var ds struct {
		Datasources []struct{ Name, URL string } `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(raw, &ds); err != nil {
		t.Fatal(err)
	}
	for _, d := range ds.Datasources {
		u, err := url.Parse(d.URL)
		if err != nil {
			t.Errorf("datasource %s: %v", d.Name, err)
			continue
		}
		target, ok := p.Services[u.Hostname()]
		if !ok || !slices.ContainsFunc(target.Ports, func(pc types.ServicePortConfig) bool {
			return strconv.FormatUint(uint64(pc.Target), 10) == u.Port()
		}) {
			t.Errorf("datasource %s URL %s does not name a compose service and its port", d.Name, d.URL)
		}
	}
	// The provider's path is where the dashboards are mounted.
	raw, err = os.ReadFile("../dashboards/provisioning/dashboards/prexmon.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte("path: /etc/grafana/dashboards/prexmon\n")) {
		t.Error("dashboard provider does not read /etc/grafana/dashboards/prexmon")
	}
}

func TestComposeNeedsPassword(t *testing.T) {
	_, err := loadProject(t)
	if err == nil || !strings.Contains(err.Error(), "GRAFANA_ADMIN_PASSWORD") {
		t.Fatalf("loading without GRAFANA_ADMIN_PASSWORD: err = %v, want a clear error naming it", err)
	}
}

func TestComposeHasNoVersionKey(t *testing.T) {
	raw, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]any
	if err := yaml.Unmarshal(raw, &top); err != nil {
		t.Fatal(err)
	}
	if _, ok := top["version"]; ok {
		t.Error("the top-level version key is obsolete")
	}
}

// hostPath maps a path inside a service's container to the checkout file
// that a read-only bind mount puts there ("" when none does).
func hostPath(s types.ServiceConfig, inContainer string) string {
	best := ""
	var src string
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		if inContainer == v.Target || strings.HasPrefix(inContainer, v.Target+"/") {
			if len(v.Target) > len(best) {
				best, src = v.Target, v.Source
			}
		}
	}
	if best == "" {
		return ""
	}
	return filepath.Join(src, strings.TrimPrefix(inContainer, best))
}

// TestComposePrometheusFiles resolves every file prometheus.yml refers to
// inside the container and checks a mount provides it from the checkout.
func TestComposePrometheusFiles(t *testing.T) {
	p := project(t)
	s := service(t, p, "prometheus")
	raw, err := os.ReadFile("../prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		RuleFiles []string `yaml:"rule_files"`
		Alerting  struct {
			Alertmanagers []struct {
				FileSD []struct{ Files []string } `yaml:"file_sd_configs"`
			} `yaml:"alertmanagers"`
		} `yaml:"alerting"`
		ScrapeConfigs []struct {
			JobName string                       `yaml:"job_name"`
			FileSD  []struct{ Files []string }   `yaml:"file_sd_configs"`
			Static  []struct{ Targets []string } `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("parse prometheus.yml: %v", err)
	}
	files := append([]string{}, cfg.RuleFiles...)
	for _, am := range cfg.Alerting.Alertmanagers {
		for _, sd := range am.FileSD {
			files = append(files, sd.Files...)
		}
	}
	jobs := map[string]string{}
	for _, sc := range cfg.ScrapeConfigs {
		for _, sd := range sc.FileSD {
			files = append(files, sd.Files...)
			jobs[sc.JobName] = sd.Files[0]
		}
	}
	if jobs["prexmon"] != "deploy/targets/agents.yml" || jobs["archiver"] == "" {
		t.Errorf("file_sd jobs %v: want prexmon on deploy/targets/agents.yml and an archiver job", jobs)
	}
	if len(files) < 5 {
		t.Fatalf("prometheus.yml refers to only %v", files)
	}
	for _, f := range files {
		in := path.Join("/etc/prometheus", f)
		host := hostPath(s, in)
		if host == "" {
			t.Errorf("prometheus needs %s but no mount provides it", in)
			continue
		}
		if _, err := os.Stat(host); err != nil {
			t.Errorf("prometheus needs %s: %v", in, err)
		}
	}
	// Inside the stack, jobs must name the compose services.
	for file, want := range map[string]string{
		"deploy/prometheus/targets/archiver.yml":     "archiver:5000",
		"deploy/prometheus/targets/alertmanager.yml": "alertmanager:9093",
		"deploy/targets/agents.yml":                  "host.docker.internal:9110",
	} {
		host := hostPath(s, path.Join("/etc/prometheus", file))
		if got := firstTarget(t, host); got != want {
			t.Errorf("in the stack %s targets %q, want %q", file, got, want)
		}
	}
}

func firstTarget(t *testing.T, file string) string {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var groups []struct{ Targets []string }
	if err := yaml.Unmarshal(raw, &groups); err != nil {
		t.Fatalf("parse %s: %v", file, err)
	}
	if len(groups) == 0 || len(groups[0].Targets) == 0 {
		t.Fatalf("%s has no targets", file)
	}
	return groups[0].Targets[0]
}

// TestComposeArchiverShares checks the archiver accepts its configuration
// and reads the very targets file Prometheus' prexmon job reads.
func TestComposeArchiverSharesTargets(t *testing.T) {
	p := project(t)
	s := service(t, p, "archiver")
	var cfgPath string
	for _, arg := range s.Command {
		if v, ok := strings.CutPrefix(arg, "--config.file="); ok {
			cfgPath = v
		}
	}
	host := hostPath(s, cfgPath)
	if host == "" {
		t.Fatalf("archiver config %q is not mounted", cfgPath)
	}
	raw, err := os.ReadFile(host)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(raw)
	if err != nil {
		t.Fatalf("archiver rejects %s: %v", host, err)
	}
	var matched []string
	for _, sd := range cfg.FileSDConfigs {
		for _, pattern := range sd.Files {
			hostPattern := hostPath(s, path.Join(path.Dir(cfgPath), pattern))
			m, _ := filepath.Glob(hostPattern)
			matched = append(matched, m...)
		}
	}
	promAgents := hostPath(service(t, p, "prometheus"), "/etc/prometheus/deploy/targets/agents.yml")
	if !slices.Contains(matched, promAgents) {
		t.Errorf("archiver file_sd reads %v, want it to include Prometheus' %s", matched, promAgents)
	}
	if !slices.Contains(s.Command, "--storage.path=/data") {
		t.Errorf("archiver command %v does not store under /data (the volume)", s.Command)
	}
}

// TestDockerfiles parses each service's Dockerfile with BuildKit's own
// parser and linter (any lint warning fails) and checks the shape: a Go
// build stage with cgo off, a final stage FROM scratch that runs the binary
// as a non-root user with a healthcheck.
func TestDockerfiles(t *testing.T) {
	p := project(t)
	for _, name := range []string{"exporter", "archiver"} {
		s := service(t, p, name)
		if s.Build == nil {
			t.Errorf("%s has no build section", name)
			continue
		}
		file := filepath.Join(s.Build.Context, s.Build.Dockerfile)
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		ast, err := parser.Parse(bytes.NewReader(raw))
		if err != nil {
			t.Errorf("%s: parse: %v", file, err)
			continue
		}
		for _, w := range ast.Warnings {
			t.Errorf("%s: %s", file, w.Short)
		}
		lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
			t.Errorf("%s: lint %s: %s (%v)", file, rule, msg, loc)
		}})
		stages, _, err := instructions.Parse(ast.AST, lint)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if len(stages) < 2 {
			t.Errorf("%s: %d stages, want a multi-stage build", file, len(stages))
			continue
		}
		final := stages[len(stages)-1]
		if final.BaseName != "scratch" {
			t.Errorf("%s: final stage FROM %s, want scratch", file, final.BaseName)
		}
		stageNames := map[string]bool{}
		for _, st := range stages {
			stageNames[st.Name] = true
		}
		var user, entrypoint string
		var healthcheck, cgoOff, fromRelease bool
		for _, st := range stages {
			for _, c := range st.Commands {
				switch c := c.(type) {
				case *instructions.RunCommand:
					cgoOff = cgoOff || strings.Contains(strings.Join(c.CmdLine, " "), "CGO_ENABLED=0 go build")
				case *instructions.AddCommand:
					// The archive name make release writes (tools/release).
					fromRelease = fromRelease || st.Name == "release" &&
						slices.Contains(c.SourcePaths, "prexmon-${VERSION}.${TARGETOS}-${TARGETARCH}.tar.gz")
				case *instructions.CopyCommand:
					if c.From != "" && !stageNames[c.From] {
						t.Errorf("%s: COPY --from=%s names no stage", file, c.From)
					}
				}
			}
		}
		for _, c := range final.Commands {
			switch c := c.(type) {
			case *instructions.UserCommand:
				user = c.User
			case *instructions.HealthCheckCommand:
				healthcheck = len(c.Health.Test) > 1 && c.Health.Test[0] == "CMD"
			case *instructions.EntrypointCommand:
				entrypoint = strings.Join(c.CmdLine, " ")
			}
		}
		if !cgoOff {
			t.Errorf("%s: no static build (CGO_ENABLED=0 go build)", file)
		}
		if !fromRelease || !stageNames["source"] {
			t.Errorf("%s: want a source stage and a release stage that adds the release archive", file)
		}
		if user == "" || user == "root" || user == "0" || strings.HasPrefix(user, "0:") {
			t.Errorf("%s: final stage runs as %q, want a non-root USER", file, user)
		}
		if !healthcheck {
			t.Errorf("%s: final stage has no exec-form HEALTHCHECK", file)
		}
		if entrypoint != "/bin/"+name {
			t.Errorf("%s: ENTRYPOINT %q, want /bin/%s", file, entrypoint, name)
		}
	}
}

// TestComposeHardening checks every service runs with no capabilities, a
// read-only root file system, no privilege escalation, a memory limit and
// a log that cannot fill the disk.
func TestComposeHardening(t *testing.T) {
	p := project(t)
	for _, name := range p.ServiceNames() {
		s := service(t, p, name)
		if !slices.Equal(s.CapDrop, []string{"ALL"}) {
			t.Errorf("%s: cap_drop %v, want [ALL]", name, s.CapDrop)
		}
		if !s.ReadOnly {
			t.Errorf("%s: root file system is writable, want read_only: true", name)
		}
		if !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("%s: security_opt %v lacks no-new-privileges:true", name, s.SecurityOpt)
		}
		if s.MemLimit <= 0 {
			t.Errorf("%s: no mem_limit", name)
		}
		if l := s.Logging; l == nil || l.Driver != "json-file" || l.Options["max-size"] == "" || l.Options["max-file"] == "" {
			t.Errorf("%s: logging %+v, want json-file with max-size and max-file", name, l)
		}
	}
}

// TestComposePrometheusFlags checks the lifecycle API stays off (anyone
// reaching the port could POST /-/quit) and the database is bounded in
// size as well as in time.
func TestComposePrometheusFlags(t *testing.T) {
	s := service(t, project(t), "prometheus")
	if slices.Contains(s.Command, "--web.enable-lifecycle") {
		t.Errorf("prometheus command %v enables the lifecycle API", s.Command)
	}
	if !slices.ContainsFunc(s.Command, func(a string) bool {
		return strings.HasPrefix(a, "--storage.tsdb.retention.size=") && len(a) > len("--storage.tsdb.retention.size=")
	}) {
		t.Errorf("prometheus command %v has no --storage.tsdb.retention.size", s.Command)
	}
}

// TestComposeBindMountsAreDirectories checks configuration is mounted by
// directory: a single-file bind mount pins the file's inode, so after an
// editor saves by rename the container keeps reading the old file and the
// archiver's reload sees no change. prometheus.yml, at the checkout's
// root, is the one exception (Prometheus reads it on restart only, which
// mounts it afresh); the exporter's mounts are the host's own directories.
func TestComposeBindMountsAreDirectories(t *testing.T) {
	p := project(t)
	root, _ := filepath.Abs("..")
	for _, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind || s.Name == "exporter" {
				continue
			}
			if s.Name == "prometheus" && v.Source == filepath.Join(root, "prometheus.yml") {
				continue
			}
			if fi, err := os.Stat(v.Source); err == nil && !fi.IsDir() {
				t.Errorf("%s: %s is a single-file bind mount; mount its directory", s.Name, v.Source)
			}
		}
	}
}

// TestComposeBuiltImages checks the prexmon images are built here, never
// pulled (a registry image of the same name would be someone else's), and
// are told their version.
func TestComposeBuiltImages(t *testing.T) {
	p, err := loadProject(t, "GRAFANA_ADMIN_PASSWORD="+testPassword, "PREXMON_VERSION=1.2.3", "PREXMON_REVISION=abc123")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"exporter", "archiver"} {
		s := service(t, p, name)
		if s.PullPolicy != types.PullPolicyBuild {
			t.Errorf("%s: pull_policy %q, want build", name, s.PullPolicy)
		}
		if s.Build == nil {
			t.Errorf("%s: no build section", name)
			continue
		}
		for arg, want := range map[string]string{"VERSION": "1.2.3", "REVISION": "abc123"} {
			if v := s.Build.Args[arg]; v == nil || *v != want {
				t.Errorf("%s: build arg %s = %v, want %q from PREXMON_%s", name, arg, v, want, arg)
			}
		}
	}
}

// TestComposePromtoolVersion checks make stack-check tests the rules with
// the promtool of the very Prometheus docker-compose.yml runs: image
// prom/prometheus:vX.Y.Z is Go module github.com/prometheus/prometheus
// v0.(100X+Y).Z.
func TestComposePromtoolVersion(t *testing.T) {
	image := service(t, project(t), "prometheus").Image
	m := regexp.MustCompile(`^prom/prometheus:v(\d+)\.(\d+)\.(\d+)$`).FindStringSubmatch(image)
	if m == nil {
		t.Fatalf("prometheus image %q is not pinned to prom/prometheus:vX.Y.Z", image)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	want := fmt.Sprintf("v0.%d.%s", 100*major+minor, m[3])
	raw, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	got := regexp.MustCompile(`(?m)^PROMTOOL3_MODULE\s*:?=\s*(\S+)`).FindSubmatch(raw)
	if got == nil || string(got[1]) != want {
		t.Errorf("Makefile PROMTOOL3_MODULE = %q, want %s for %s", got, want, image)
	}
}
