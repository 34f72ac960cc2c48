package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// iceccNS runs its arguments next to a private icecream cluster: an
// icecc-scheduler and an iceccd of the test's own, on 127.0.0.1 of a new
// network namespace (nothing is broadcast on the host's interfaces), with
// the daemon's socket on a private /run and every process in a new PID
// namespace, so none of them outlives the command.
const iceccNS = `set -u
d=$1; shift
ip link set lo up
mount -t tmpfs tmpfs /run
mkdir -p /run/icecc && chmod 777 /run/icecc
icecc-scheduler -n rapido-test -p 18765 -l "$d/scheduler.log" -vvv &
iceccd -n rapido-test -s 127.0.0.1:18765 -l "$d/iceccd.log" -vvv -b "$d/envs" -m 2 -N rapido-node &
i=0
until grep -q "Connected to scheduler" "$d/iceccd.log" 2>/dev/null; do
	i=$((i+1))
	if [ $i -gt 600 ]; then echo "iceccd never reached the scheduler" >&2; exit 99; fi
	sleep 0.1
done
"$@"
`

// TestRealIcecc: with rapido.compilerLauncher=icecc, "git rapido build" of a
// real kernel commit sends its compiles through icecream — the client's log
// names each changed file, the scheduler's log hands out a job per compile
// — while ccache (in front, with CCACHE_PREFIX) stores the results.
func TestRealIcecc(t *testing.T) {
	r := requireReal(t, "real-tier")
	for _, tool := range []string{"icecc", "icecc-scheduler", "iceccd", "unshare", "ip", "ccache"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("RAPIDO_REQUIRE_REAL") == "1" {
				t.Fatalf("real tier required but %s is not installed", tool)
			}
			t.Skipf("SKIPPING TestRealIcecc: %s is not installed", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("SKIPPING TestRealIcecc: iceccd and the namespaces need root")
	}
	root, _ := filepath.Abs("../..")
	r.mustRun(t, r.clone, filepath.Join(root, "contrib/kernel/make-series.sh"), "fixtures")
	head := strings.TrimSpace(r.mustRun(t, r.clone, "git", "rev-parse", "HEAD"))
	t.Cleanup(func() { r.run(r.clone, "git", "checkout", "-q", "--detach", head) })
	r.mustRun(t, r.clone, "git", "checkout", "-q", "--detach", "fixture/pass")
	// Three files that every tinyconfig kernel compiles, changed so that
	// make rebuilds exactly them (and relinks).
	changed := []string{"kernel/panic.c", "kernel/exit.c", "lib/string.c"}
	for _, f := range changed {
		p := filepath.Join(r.clone, f)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, []byte("\nstatic int __maybe_unused rapido_icecc_probe;\n")...)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r.mustRun(t, r.clone, "git", "commit", "-q", "-a", "-m", "icecc: probe")

	// The daemons run as the icecc user: their directory must be theirs to
	// write. A fresh ccache directory makes every changed file a miss.
	d, err := os.MkdirTemp("", "rapido-icecc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	os.Chmod(d, 0o777)
	ccdir := filepath.Join(d, "ccache")
	clientLog := filepath.Join(d, "client.log")
	r.env = append(r.env, "CCACHE_DIR="+ccdir, "ICECC_DEBUG=debug", "ICECC_LOGFILE="+clientLog)

	start := time.Now()
	args := []string{"--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "sh", "-c", iceccNS, "icecc-ns", d,
		"git", "-c", "rapido.compilerLauncher=icecc", "-c", "rapido.jobs=4", "rapido", "build"}
	stdout, stderr, code := r.run(r.clone, "unshare", args...)
	t.Logf("git rapido build through icecc: exit %d in %s\n%s%s", code, time.Since(start).Round(time.Second), stdout, stderr)
	if code != 0 {
		sched, _ := os.ReadFile(filepath.Join(d, "scheduler.log"))
		daemon, _ := os.ReadFile(filepath.Join(d, "iceccd.log"))
		t.Fatalf("build exited %d\nscheduler:\n%s\niceccd:\n%s", code, tail(sched), tail(daemon))
	}

	client, err := os.ReadFile(clientLog)
	if err != nil {
		t.Fatalf("icecc's client log: %v (no compile went through icecc)", err)
	}
	for _, f := range changed {
		if !regexp.MustCompile(`invoked as: .*icecc .*` + regexp.QuoteMeta(f)).Match(client) {
			t.Errorf("icecc's client log has no compile of %s", f)
		}
	}
	sched, _ := os.ReadFile(filepath.Join(d, "scheduler.log"))
	jobs := regexp.MustCompile(`put \d+ in joblist of rapido-node`).FindAll(sched, -1)
	t.Logf("scheduler handed out %d compile jobs", len(jobs))
	if len(jobs) < len(changed) {
		t.Errorf("the scheduler handed out %d jobs, want at least %d (one per changed file)\n%s", len(jobs), len(changed), tail(sched))
	}
	// ccache stayed in front and stored what icecc compiled.
	stats := r.mustRun(t, r.clone, "ccache", "--print-stats")
	if m := regexp.MustCompile(`(?m)^cache_miss\t(\d+)$`).FindStringSubmatch(stats); m == nil || m[1] == "0" {
		t.Errorf("ccache recorded no miss: it was not in front of icecc\n%s", stats)
	}
}

// tail is the end of a log, for a failure message.
func tail(b []byte) string {
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
