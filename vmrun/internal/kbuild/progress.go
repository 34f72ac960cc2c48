package kbuild

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// quietLine matches kbuild's quiet output ("  CC      kernel/fork.o").
var quietLine = regexp.MustCompile(`^\s+(CC|AS|LD|AR|CPP|HOSTCC|HOSTLD|OBJCOPY|GEN|UPD|SYSMAP|MODPOST|CC \[M\]|LD \[M\]|VDSO|RELOCS|ZOFFSET|MKPIGGY|CHK|SYSTBL|SYSHDR|WRAP|BTF)\s+(\S+)`)

// progressEvery is how often a build that is not on a terminal says how far
// it got, so a CI log shows a long build is alive; redrawEvery keeps a
// terminal's clock moving. Variables so tests need not wait.
var (
	progressEvery = 30 * time.Second
	redrawEvery   = time.Second
)

// progress renders one live line on a terminal, or a line per phase (and
// one every 30 s) otherwise, so long builds never look stuck. The line says
// how many objects were compiled, the file being built, the time, and — when
// a build of the same configuration from scratch was seen before — the
// percentage done and the time left. With verbose, make's own output is
// streamed instead.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	term    bool
	verbose bool
	start   time.Time
	name    string
	objects int
	expect  int    // objects a build from scratch compiled last time; 0: unknown
	current string // the file kbuild said it is building
	last    time.Time
	drawn   bool
	stop    chan struct{}
	stopped sync.WaitGroup
}

func newProgress(w io.Writer, term bool, start time.Time) *progress {
	return &progress{w: w, term: term, start: start}
}

// expectObjects sets the count a percentage is computed against.
func (p *progress) expectObjects(n int) {
	p.mu.Lock()
	p.expect = n
	p.mu.Unlock()
}

func (p *progress) phase(name string) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.name = name
	p.startTicker()
	if !p.term || p.verbose {
		fmt.Fprintf(p.w, "build: %s\n", name)
		return
	}
	p.draw()
}

// startTicker keeps the clock moving through phases with no output (the
// final link takes seconds): every second on a terminal, every 30 s in a log.
func (p *progress) startTicker() {
	if p.stop != nil || p.verbose {
		return
	}
	every := redrawEvery
	if !p.term {
		every = progressEvery
	}
	p.stop = make(chan struct{})
	p.stopped.Add(1)
	go func(stop chan struct{}) {
		defer p.stopped.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				p.mu.Lock()
				if p.term {
					p.draw()
				} else {
					fmt.Fprintln(p.w, p.render(time.Since(p.start)))
				}
				p.mu.Unlock()
			}
		}
	}(p.stop)
}

func (p *progress) line(l string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.verbose && p.w != nil {
		fmt.Fprintln(p.w, l)
	}
	m := quietLine.FindStringSubmatch(l)
	if m == nil {
		return
	}
	p.objects++
	p.current = m[2]
	if p.w == nil || !p.term || p.verbose {
		return
	}
	if time.Since(p.last) > 200*time.Millisecond {
		p.draw()
	}
}

func (p *progress) draw() {
	p.last = time.Now()
	p.drawn = true
	fmt.Fprintf(p.w, "\r\033[K%s", p.render(time.Since(p.start)))
}

func (p *progress) render(elapsed time.Duration) string {
	return renderLine(p.name, p.objects, p.expect, p.current, elapsed)
}

// Render returns the live line's text (for tests).
func Render(phase string, objects int, elapsed time.Duration) string {
	return renderLine(phase, objects, 0, "", elapsed)
}

// renderLine is "build: build, 812/2741 objects (29%), 1m05s, ~2m40s left,
// kernel/fork.o". Time left is the elapsed time scaled by the objects to
// go; it is only shown once a tenth of the objects are done, when the rate
// means something.
func renderLine(phase string, objects, expect int, current string, elapsed time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "build: %s, ", phase)
	if expect > 0 && objects <= expect {
		fmt.Fprintf(&b, "%d/%d objects (%d%%)", objects, expect, objects*100/expect)
	} else {
		fmt.Fprintf(&b, "%d objects", objects)
	}
	fmt.Fprintf(&b, ", %s", elapsed.Round(time.Second))
	if expect > 0 && objects*10 >= expect && objects < expect {
		left := time.Duration(float64(elapsed) * float64(expect-objects) / float64(objects))
		fmt.Fprintf(&b, ", ~%s left", left.Round(time.Second))
	}
	if current != "" {
		b.WriteString(", " + current)
	}
	return b.String()
}

func (p *progress) done() {
	if p.stop != nil {
		close(p.stop)
		p.stopped.Wait()
		p.stop = nil
	}
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.term && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	} else if (!p.term || p.verbose) && p.objects > 0 {
		fmt.Fprintf(p.w, "build: %d objects compiled in %s\n", p.objects, time.Since(p.start).Round(time.Second))
	}
}

// objectsFile remembers, per .config, how many objects a build from scratch
// compiled, for the next such build's percentage. It is a hint: losing or
// mixing it up only costs the percentage.
func objectsFile() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "git-rapido", "build-objects.json")
}

func configKey(config []byte) string {
	sum := sha256.Sum256(config)
	return hex.EncodeToString(sum[:8])
}

func expectedObjects(config []byte) int {
	f := objectsFile()
	if f == "" || len(config) == 0 {
		return 0
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return 0
	}
	m := map[string]int{}
	json.Unmarshal(b, &m)
	return m[configKey(config)]
}

func recordObjects(config []byte, n int) {
	f := objectsFile()
	if f == "" || len(config) == 0 || n == 0 {
		return
	}
	m := map[string]int{}
	if b, err := os.ReadFile(f); err == nil {
		json.Unmarshal(b, &m)
	}
	if len(m) > 64 { // one entry per configuration ever built: keep it small
		m = map[string]int{}
	}
	m[configKey(config)] = n
	b, _ := json.Marshal(m)
	os.MkdirAll(filepath.Dir(f), 0o755)
	tmp := fmt.Sprintf("%s.%d.tmp", f, os.Getpid())
	if os.WriteFile(tmp, b, 0o644) == nil {
		os.Rename(tmp, f)
	}
}
