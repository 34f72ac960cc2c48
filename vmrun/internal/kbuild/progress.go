package kbuild

import (
	"fmt"
	"io"
	"regexp"
	"time"
)

// quietLine matches kbuild's quiet output ("  CC      kernel/fork.o").
var quietLine = regexp.MustCompile(`^\s+(CC|AS|LD|AR|CPP|HOSTCC|HOSTLD|OBJCOPY|GEN|UPD|SYSMAP|MODPOST|CC \[M\]|LD \[M\]|VDSO|RELOCS|ZOFFSET|MKPIGGY|CHK|SYSTBL|SYSHDR|WRAP|BTF)\s`)

// progress renders one live line on a terminal, or a line per phase
// otherwise, so long builds never look stuck.
type progress struct {
	w       io.Writer
	term    bool
	start   time.Time
	name    string
	objects int
	last    time.Time
	drawn   bool
}

func newProgress(w io.Writer, term bool, start time.Time) *progress {
	return &progress{w: w, term: term, start: start}
}

func (p *progress) phase(name string) {
	if p.w == nil {
		return
	}
	p.name = name
	if !p.term {
		fmt.Fprintf(p.w, "build: %s\n", name)
		return
	}
	p.draw()
}

func (p *progress) line(l string) {
	if !quietLine.MatchString(l) {
		return
	}
	p.objects++
	if p.w == nil || !p.term {
		return
	}
	if time.Since(p.last) > 200*time.Millisecond {
		p.draw()
	}
}

func (p *progress) draw() {
	p.last = time.Now()
	p.drawn = true
	fmt.Fprintf(p.w, "\r\033[Kbuild: %s, %d objects, %s", p.name, p.objects, time.Since(p.start).Round(time.Second))
}

// Render returns the live line's text (for tests).
func Render(phase string, objects int, elapsed time.Duration) string {
	return fmt.Sprintf("build: %s, %d objects, %s", phase, objects, elapsed.Round(time.Second))
}

func (p *progress) done() {
	if p.w == nil {
		return
	}
	if p.term && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	} else if !p.term && p.objects > 0 {
		fmt.Fprintf(p.w, "build: %d objects compiled in %s\n", p.objects, time.Since(p.start).Round(time.Second))
	}
}
