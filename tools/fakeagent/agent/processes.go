package agent

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

// NumProcesses is the process count of every generated snapshot: the size
// of a busy server that the archiver's speed target is stated for.
const NumProcesses = 300

// procs builds the process table; r fixes the machine, tick moves counters.
type procs struct {
	r, tick *rand.Rand
	now     time.Time
	boot    time.Time
	uptime  uint64
	nextPID int32
	list    []snapshot.Process
}

// add appends one process started at age seconds after boot and returns its pid.
func (p *procs) add(ppid int32, name, exe, cmdline, user string, ageFrac float64, rssMB, threads int) int32 {
	// Early processes have small pids in start order; later ones come from
	// a pid space that has wrapped many times (pid_max is 4194304).
	p.nextPID += int32(1 + p.r.IntN(40))
	pid := p.nextPID
	if ageFrac > 0.01 {
		pid = 5000 + p.r.Int32N(4194304-5000)
	}
	started := p.boot.Add(time.Duration(ageFrac * float64(p.uptime) * float64(time.Second))).Truncate(10 * time.Millisecond)
	alive := p.now.Sub(started).Seconds()
	state := "sleep"
	if exe == "" {
		state = "idle"
	}
	// gopsutil reports the share of the last interval at full float
	// precision for every process that ran at all, which is most of them;
	// those digits are much of what keeps real snapshots from compressing
	// better than about 4x.
	var cpuPct float64
	if p.tick.IntN(20) < 19 {
		cpuPct = float64(1+p.tick.IntN(400)) / float64(1+p.tick.IntN(4000)) * 100 / 3
	}
	busy := rssMB > 0 && p.r.IntN(4) == 0
	if busy {
		cpuPct = p.tick.Float64() * 30
		if p.tick.IntN(10) == 0 {
			state = "running"
		}
	}
	// user and system times are whole clock ticks each; their float sum
	// carries binary rounding noise (12.340000000000002), as gopsutil's does.
	ticks := int64(alive*p.r.Float64()*0.002*100) + int64(p.tick.IntN(100))
	if busy {
		ticks = int64(alive*p.r.Float64()*0.3*100) + int64(p.tick.IntN(500))
	}
	sys := ticks / int64(2+p.r.IntN(8))
	cpuSec := float64(ticks-sys)/100 + float64(sys)/100
	var rss uint64
	if rssMB > 0 {
		rss = uint64(rssMB)<<20/2 + uint64(p.r.IntN(rssMB<<20)) + uint64(p.tick.IntN(64))*4096
		rss &^= 4095
	}
	p.list = append(p.list, snapshot.Process{
		PID: pid, PPID: ppid, Name: name, Exe: exe, Cmdline: cmdline, User: user, State: state,
		StartedAt: started, CPUPercent: cpuPct, CPUSeconds: cpuSec, RSSBytes: rss, Threads: int32(threads),
	})
	return pid
}

func processes(r, tick *rand.Rand, now, boot time.Time, uptime uint64, role string, cores int) []snapshot.Process {
	p := &procs{r: r, tick: tick, now: now, boot: boot, uptime: uptime}
	p.kernel(cores)
	p.system()
	switch role {
	case "db":
		p.postgres(40)
	case "web":
		p.nginx(cores)
		p.phpFPM(20)
	case "kafka":
		p.java("kafka", 3)
	case "search":
		p.java("elasticsearch", 2)
	case "ci":
		p.java("jenkins", 1)
	case "worker":
		p.python("celery", 12)
	default:
		p.python("gunicorn", 8)
	}
	// Every real server runs a bit of everything besides its main role.
	p.java("tomcat", 1)
	p.nginx(2)
	p.python("gunicorn", 4)
	p.node(3)
	p.postgres(8)
	for len(p.list) < NumProcesses {
		switch r.IntN(8) {
		case 0, 1, 2, 3, 4:
			p.container()
		case 5:
			p.cronJob()
		case 6:
			p.ansible()
		default:
			p.shell()
		}
	}
	return p.list[:NumProcesses]
}

var kernelThreads = []string{
	"kthreadd", "pool_workqueue_release", "kworker/R-rcu_g", "kworker/R-rcu_p", "kworker/R-slub_",
	"kworker/R-netns", "rcu_tasks_kthread", "rcu_tasks_rude_kthread", "rcu_tasks_trace_kthread",
	"rcu_preempt", "rcu_exp_par_gp_kthread_worker/0", "rcu_exp_gp_kthread_worker", "kdevtmpfs",
	"kworker/R-inet_", "kauditd", "khungtaskd", "oom_reaper", "kworker/R-write", "kcompactd0",
	"ksmd", "khugepaged", "kworker/R-kinte", "kworker/R-kbloc", "kworker/R-blkcg", "irq/9-acpi",
	"kworker/R-tpm_d", "kworker/R-ata_s", "kworker/R-md", "kworker/R-edac-", "kworker/R-devfr",
	"watchdogd", "kswapd0", "ecryptfs-kthread", "kworker/R-kthro", "kworker/R-acpi_", "scsi_eh_0",
	"kworker/R-scsi_", "kworker/R-mld", "kworker/R-ipv6_", "kworker/R-kstrp", "jbd2/nvme0n1p1-8",
	"kworker/R-ext4-", "xfsaild/nvme1n1", "kworker/R-xfs-b", "kworker/R-nvme-", "kworker/R-nvme-wq",
}

func (p *procs) kernel(cores int) {
	for _, name := range kernelThreads {
		p.add(2, name, "", "", "root", 0, 0, 1)
	}
	for c := range min(cores, 8) {
		for _, f := range []string{"cpuhp/%d", "migration/%d", "ksoftirqd/%d", "kworker/%d:0H-events_highpri"} {
			p.add(2, fmt.Sprintf(f, c), "", "", "root", 0, 0, 1)
		}
	}
	for range 12 {
		p.kworker(cores)
	}
}

func (p *procs) kworker(cores int) {
	events := []string{"events", "events_unbound", "mm_percpu_wq", "events_power_efficient", "kblockd", "writeback", "flush-259:0", "xfs-cil/nvme1n1"}
	p.add(2, fmt.Sprintf("kworker/%d:%d-%s", p.r.IntN(cores), p.r.IntN(4), events[p.r.IntN(len(events))]), "", "", "root", p.r.Float64(), 0, 1)
}

func (p *procs) system() {
	type d struct{ name, exe, cmd, user string }
	for _, s := range []d{
		{"systemd", "/usr/lib/systemd/systemd", "/sbin/init", "root"},
		{"systemd-journald", "/usr/lib/systemd/systemd-journald", "/lib/systemd/systemd-journald", "root"},
		{"systemd-udevd", "/usr/lib/systemd/systemd-udevd", "/lib/systemd/systemd-udevd", "root"},
		{"systemd-networkd", "/usr/lib/systemd/systemd-networkd", "/lib/systemd/systemd-networkd", "systemd-network"},
		{"systemd-resolved", "/usr/lib/systemd/systemd-resolved", "/lib/systemd/systemd-resolved", "systemd-resolve"},
		{"systemd-timesyncd", "/usr/lib/systemd/systemd-timesyncd", "/lib/systemd/systemd-timesyncd", "systemd-timesync"},
		{"systemd-logind", "/usr/lib/systemd/systemd-logind", "/lib/systemd/systemd-logind", "root"},
		{"dbus-daemon", "/usr/bin/dbus-daemon", "/usr/bin/dbus-daemon --system --address=systemd: --nofork --nopidfile --systemd-activation --syslog-only", "messagebus"},
		{"cron", "/usr/sbin/cron", "/usr/sbin/cron -f", "root"},
		{"rsyslogd", "/usr/sbin/rsyslogd", "/usr/sbin/rsyslogd -n -iNONE", "root"},
		{"sshd", "/usr/sbin/sshd", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups", "root"},
		{"agetty", "/usr/sbin/agetty", "/sbin/agetty -o -p -- \\u --keep-baud 115200,57600,38400,9600 ttyS0 vt220", "root"},
		{"chronyd", "/usr/sbin/chronyd", "/usr/sbin/chronyd -F 1", "_chrony"},
		{"containerd", "/usr/bin/containerd", "/usr/bin/containerd", "root"},
		{"dockerd", "/usr/bin/dockerd", "/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock", "root"},
		{"exporter", "/usr/local/bin/prexmon-exporter", "/usr/local/bin/prexmon-exporter --web.listen-address=:9110 --collector.processes.max-groups=30 --push.bearer-token-file=***", "prexmon"},
		{"amazon-ssm-agent", "/usr/bin/amazon-ssm-agent", "/usr/bin/amazon-ssm-agent", "root"},
		{"unattended-upgr", "/usr/bin/python3.11", "/usr/bin/python3 /usr/share/unattended-upgrades/unattended-upgrade-shutdown --wait-for-signal", "root"},
	} {
		p.add(1, s.name, s.exe, s.cmd, s.user, p.r.Float64()*0.001, 4+p.r.IntN(60), 1+p.r.IntN(12))
	}
	for range 2 {
		p.shell()
	}
}

func (p *procs) shell() {
	u := []string{"alice", "bob", "deploy", "ops"}[p.r.IntN(4)]
	tty := "pts/" + strconv.Itoa(p.r.IntN(8))
	sshd := p.add(1, "sshd", "/usr/sbin/sshd", "sshd: "+u+"@"+tty, u, 0.9+p.r.Float64()*0.1, 8, 1)
	sh := p.add(sshd, "bash", "/usr/bin/bash", "-bash", u, 0.9+p.r.Float64()*0.1, 5, 1)
	cmds := []struct{ name, exe, cmd string }{
		{"tmux: server", "/usr/bin/tmux", "tmux new -s deploy-" + strconv.Itoa(p.r.IntN(100))},
		{"vim", "/usr/bin/vim.basic", "vim /etc/" + []string{"nginx/sites-enabled/default", "postgresql/15/main/postgresql.conf", "hosts", "fstab"}[p.r.IntN(4)]},
		{"less", "/usr/bin/less", "less /var/log/syslog." + strconv.Itoa(1+p.r.IntN(7))},
		{"top", "/usr/bin/top", "top -d 2"},
		{"journalctl", "/usr/bin/journalctl", "journalctl -fu " + []string{"nginx", "kafka", "postgresql@15-main", "docker"}[p.r.IntN(4)]},
		{"sleep", "/usr/bin/sleep", "sleep " + strconv.Itoa(60*p.r.IntN(60))},
	}
	c := cmds[p.r.IntN(len(cmds))]
	p.add(sh, c.name, c.exe, c.cmd, u, 0.95+p.r.Float64()*0.05, 3+p.r.IntN(10), 1)
}

func (p *procs) postgres(backends int) {
	const exe = "/usr/lib/postgresql/15/bin/postgres"
	master := p.add(1, "postgres", exe, exe+" -D /var/lib/postgresql/15/main -c config_file=/etc/postgresql/15/main/postgresql.conf", "postgres", 0.01, 200, 1)
	for _, s := range []string{"checkpointer", "background writer", "walwriter", "autovacuum launcher", "logical replication launcher"} {
		p.add(master, "postgres", exe, "postgres: 15/main: "+s, "postgres", 0.01, 40, 1)
	}
	dbs := []string{"orders", "billing", "inventory", "users", "analytics"}
	states := []string{"idle", "idle", "idle", "idle in transaction", "SELECT", "UPDATE", "COMMIT"}
	for range backends {
		p.add(master, "postgres", exe, fmt.Sprintf("postgres: 15/main: app_%s %s 10.%d.%d.%d(%d) %s",
			dbs[p.r.IntN(len(dbs))], dbs[p.r.IntN(len(dbs))], p.r.IntN(4), p.r.IntN(256), 1+p.r.IntN(254), 32768+p.r.IntN(28000), states[p.r.IntN(len(states))]),
			"postgres", 0.5+p.r.Float64()*0.5, 20+p.r.IntN(100), 1)
	}
}

func (p *procs) nginx(workers int) {
	master := p.add(1, "nginx", "/usr/sbin/nginx", "nginx: master process /usr/sbin/nginx -g daemon on; master_process on;", "root", 0.02, 8, 1)
	for range workers {
		p.add(master, "nginx", "/usr/sbin/nginx", "nginx: worker process", "www-data", 0.02, 12+p.r.IntN(30), 1)
	}
}

func (p *procs) phpFPM(n int) {
	master := p.add(1, "php-fpm8.2", "/usr/sbin/php-fpm8.2", "php-fpm: master process (/etc/php/8.2/fpm/php-fpm.conf)", "root", 0.02, 30, 1)
	for range n {
		p.add(master, "php-fpm8.2", "/usr/sbin/php-fpm8.2", "php-fpm: pool www", "www-data", 0.3+p.r.Float64()*0.7, 40+p.r.IntN(60), 1)
	}
}

func (p *procs) python(kind string, workers int) {
	app := []string{"orders", "billing", "search-api", "notifier", "reports"}[p.r.IntN(5)]
	venv := "/srv/" + app + "/.venv"
	var cmd string
	switch kind {
	case "celery":
		cmd = fmt.Sprintf("%s/bin/python3.11 %s/bin/celery -A %s.tasks worker --loglevel=INFO --concurrency=%d -Q %s,default,priority --hostname=%s@%%h --max-tasks-per-child=1000 --pidfile=/run/celery/%s.pid",
			venv, venv, app, workers, app, app, app)
	default:
		cmd = fmt.Sprintf("%s/bin/python3.11 %s/bin/gunicorn %s.wsgi:application --workers %d --worker-class gthread --threads 4 --bind 127.0.0.1:%d --timeout 60 --access-logfile /var/log/%s/access.log --error-logfile /var/log/%s/error.log --env DJANGO_SETTINGS_MODULE=%s.settings.production --env DATABASE_URL=***",
			venv, venv, app, workers, 8000+p.r.IntN(100), app, app, app)
	}
	exe := "/usr/bin/python3.11"
	master := p.add(1, "python3.11", exe, cmd, "app", 0.1+p.r.Float64()*0.5, 80, 2)
	for range workers {
		p.add(master, kind, exe, cmd, "app", 0.6+p.r.Float64()*0.4, 120+p.r.IntN(300), 1+p.r.IntN(6))
	}
}

func (p *procs) node(n int) {
	svc := []string{"gateway", "web-frontend", "ws-push", "pdf-render"}[p.r.IntN(4)]
	for range n {
		p.add(1, "node", "/usr/bin/node", fmt.Sprintf("node --max-old-space-size=%d --enable-source-maps /srv/%s/dist/server.js --port %d --config /etc/%s/config.json",
			512<<p.r.IntN(3), svc, 3000+p.r.IntN(1000), svc), "app", 0.2+p.r.Float64()*0.8, 100+p.r.IntN(400), 7+p.r.IntN(8))
	}
}

// container adds a Kubernetes pod as containerd runs it: one shim per pod
// sandbox (named by a 64-digit id), the pause process and the pod's
// containers, whose arguments carry the pod's name, uid and address. Real
// nodes carry many such ids, which is where much of a snapshot's
// incompressible entropy comes from.
func (p *procs) container() {
	id := hex(p.r, 64)
	shim := p.add(1, "containerd-shim", "/usr/bin/containerd-shim-runc-v2",
		"/usr/bin/containerd-shim-runc-v2 -namespace k8s.io -id "+id+" -address /run/containerd/containerd.sock", "root", p.r.Float64(), 10, 10+p.r.IntN(5))
	started := p.r.Float64()
	p.add(shim, "pause", "/pause", "/pause", "65535", started, 1, 1)
	app := []string{"checkout", "cart", "catalog", "auth", "ledger", "mailer", "search", "recommend"}[p.r.IntN(8)]
	pod := fmt.Sprintf("%s-%s-%s", app, lower(p.r, 10), lower(p.r, 5))
	uid := fmt.Sprintf("%s-%s-%s-%s-%s", hex(p.r, 8), hex(p.r, 4), hex(p.r, 4), hex(p.r, 4), hex(p.r, 12))
	podIP := fmt.Sprintf("10.%d.%d.%d", 64+p.r.IntN(64), p.r.IntN(256), 1+p.r.IntN(254))
	p.add(shim, app, "/app/"+app, fmt.Sprintf("/app/%s --pod-uid=%s --pod-name=%s --listen=%s:%d --metrics-port=9090 --config=/etc/%s/%s.yaml --trace-sample=0.0%d",
		app, uid, pod, podIP, 50000+p.r.IntN(1000), app, hex(p.r, 10), 1+p.r.IntN(9)), []string{"65532", "1000", "app"}[p.r.IntN(3)], started, 20+p.r.IntN(300), 1+p.r.IntN(30))
	if p.r.IntN(3) > 0 {
		p.add(shim, "envoy", "/usr/local/bin/envoy", fmt.Sprintf("/usr/local/bin/envoy -c /etc/istio/proxy/envoy-rev.json --drain-time-s 45 --service-cluster %s.default --service-node sidecar~%s~%s.default~default.svc.cluster.local --local-address-ip-version v4 --concurrency 2",
			app, podIP, pod), "1337", started, 40+p.r.IntN(60), 10+p.r.IntN(10))
	}
}

// ansible adds a configuration-management run as it appears mid-flight:
// one-off temp directories and become markers, unique per run.
func (p *procs) ansible() {
	u := []string{"ops", "deploy"}[p.r.IntN(2)]
	sshd := p.add(1, "sshd", "/usr/sbin/sshd", "sshd: "+u+"@notty", u, 0.9999, 7, 1)
	tmp := fmt.Sprintf("/home/%s/.ansible/tmp/ansible-tmp-%d.%d-%d-%d", u, p.now.Unix()-int64(p.r.IntN(30)), p.r.IntN(1e6), 1000+p.r.IntN(90000), p.r.Int64N(1e15))
	sh := p.add(sshd, "sh", "/usr/bin/dash", fmt.Sprintf("/bin/sh -c sudo -H -S -n  -u root /bin/sh -c 'echo BECOME-SUCCESS-%s ; /usr/bin/python3 %s/AnsiballZ_%s.py' && sleep 0", lower(p.r, 32), tmp,
		[]string{"setup", "apt", "systemd", "copy", "stat", "command"}[p.r.IntN(6)]), u, 0.9999, 2, 1)
	p.add(sh, "python3", "/usr/bin/python3.11", "/usr/bin/python3 "+tmp+"/AnsiballZ_setup.py", "root", 0.9999, 30+p.r.IntN(30), 1)
}

func (p *procs) cronJob() {
	job := []string{"/usr/local/bin/backup.sh --target s3://backups-" + hex(p.r, 8) + "/" + p.now.Format("2006/01/02"),
		"/usr/bin/flock -n /run/logrotate.lock /usr/sbin/logrotate /etc/logrotate.conf",
		"/usr/local/bin/report --since=" + p.now.Add(-time.Hour).Format(time.RFC3339) + " --run-id=" + hex(p.r, 16)}[p.r.IntN(3)]
	cron := p.add(1, "cron", "/usr/sbin/cron", "/usr/sbin/CRON -f -P", "root", 0.999, 3, 1)
	p.add(cron, "sh", "/usr/bin/dash", "/bin/sh -c "+job, "root", 0.999, 2, 1)
}

func lower(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + r.IntN(26))
	}
	return string(b)
}

// jars are typical library names of a JVM service's classpath.
var jars = []string{
	"activation", "aopalliance-repackaged", "argparse4j", "audience-annotations", "caffeine", "checker-qual",
	"commons-beanutils", "commons-cli", "commons-codec", "commons-collections", "commons-io", "commons-lang3",
	"commons-logging", "commons-validator", "connect-api", "connect-basic-auth-extension", "connect-json",
	"connect-mirror", "connect-runtime", "connect-transforms", "error_prone_annotations", "guava", "hk2-api",
	"hk2-locator", "hk2-utils", "jackson-annotations", "jackson-core", "jackson-databind", "jackson-dataformat-csv",
	"jackson-datatype-jdk8", "jackson-jaxrs-base", "jackson-jaxrs-json-provider", "jackson-module-scala_2.13",
	"jakarta.activation-api", "jakarta.annotation-api", "jakarta.inject", "jakarta.validation-api",
	"jakarta.ws.rs-api", "jakarta.xml.bind-api", "javassist", "javax.servlet-api", "jaxb-api", "jersey-client",
	"jersey-common", "jersey-container-servlet", "jersey-hk2", "jersey-server", "jetty-client", "jetty-continuation",
	"jetty-http", "jetty-io", "jetty-security", "jetty-server", "jetty-servlet", "jetty-servlets", "jetty-util",
	"jline", "jopt-simple", "jose4j", "lz4-java", "maven-artifact", "metrics-core", "netty-buffer", "netty-codec",
	"netty-common", "netty-handler", "netty-resolver", "netty-transport", "netty-transport-native-epoll",
	"osgi-resource-locator", "paranamer", "plexus-utils", "reflections", "reload4j", "rocksdbjni",
	"scala-collection-compat_2.13", "scala-java8-compat_2.13", "scala-library", "scala-logging_2.13",
	"scala-reflect", "slf4j-api", "slf4j-reload4j", "snappy-java", "swagger-annotations", "zookeeper",
	"zookeeper-jute", "zstd-jni", "log4j-api", "log4j-core", "lucene-core", "lucene-analysis-common",
	"lucene-queries", "lucene-backward-codecs", "spring-core", "spring-context", "spring-beans", "spring-web",
	"hibernate-core", "HikariCP", "postgresql", "micrometer-core", "tomcat-embed-core", "snakeyaml",
}

func (p *procs) java(kind string, n int) {
	const java = "/usr/lib/jvm/java-17-openjdk-amd64/bin/java"
	home := map[string]string{"kafka": "/opt/kafka", "elasticsearch": "/usr/share/elasticsearch", "jenkins": "/usr/share/jenkins", "tomcat": "/opt/tomcat"}[kind]
	main := map[string]string{"kafka": "kafka.Kafka /opt/kafka/config/server.properties", "elasticsearch": "org.elasticsearch.bootstrap.Elasticsearch -Epath.conf=/etc/elasticsearch",
		"jenkins": "-jar /usr/share/java/jenkins.war --webroot=/var/cache/jenkins/war --httpPort=8080", "tomcat": "org.apache.catalina.startup.Bootstrap start"}[kind]
	for range n {
		heap := 1 << (1 + p.r.IntN(4))
		var cp strings.Builder
		for i, j := range p.r.Perm(len(jars))[:30+p.r.IntN(30)] {
			if i > 0 {
				cp.WriteByte(':')
			}
			fmt.Fprintf(&cp, "%s/libs/%s-%d.%d.%d.jar", home, jars[j], 1+p.r.IntN(9), p.r.IntN(20), p.r.IntN(30))
		}
		cmd := fmt.Sprintf("%s -Xms%dg -Xmx%dg -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true -Xlog:gc*:file=/var/log/%s/gc.log:time,tags:filecount=10,filesize=100M -Dcom.sun.management.jmxremote -Dcom.sun.management.jmxremote.authenticate=false -Dcom.sun.management.jmxremote.ssl=false -Dcom.sun.management.jmxremote.port=%d -D%s.logs.dir=/var/log/%s -Dlog4j.configuration=file:%s/config/log4j.properties -cp %s %s",
			java, heap, heap, kind, 9990+p.r.IntN(9), kind, kind, home, cp.String(), main)
		p.add(1, "java", java, cmd, kind, 0.05+p.r.Float64()*0.3, heap<<10, 40+p.r.IntN(200))
	}
}
