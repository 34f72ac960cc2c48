// Package series schedules the test of a range of commits over job slots:
// which slot tests which commit, in which order, how many slots and how
// many make jobs each. It is pure scheduling: the work itself (checking out
// a commit, building, booting) is given to Run as stages, so the schedule
// can be tested and benchmarked with stand-ins.
package series

import (
	"context"
	"sync"
)

// Assign splits n commits (oldest first) over at most slots slots in
// contiguous runs: neighbour commits go to the same slot, so each of its
// builds is a small incremental step from the previous one. Earlier runs
// are the longer ones when n does not divide evenly.
func Assign(n, slots int) [][]int {
	if n <= 0 {
		return nil
	}
	slots = max(1, min(slots, n))
	out := make([][]int, slots)
	i := 0
	for s := range out {
		size := n / slots
		if s < n%slots {
			size++
		}
		for range size {
			out[s] = append(out[s], i)
			i++
		}
	}
	return out
}

// Resources are what the default job count is computed from.
type Resources struct {
	CPUs     int
	MemAvail uint64 // bytes of memory available
	PerSlot  uint64 // bytes one slot needs: a guest and a make
	MaxSlots int    // cap (0: none)
	Commits  int    // commits to test (no more slots than commits)
}

// DefaultJobs is the number of slots when --jobs is not given: one per four
// CPUs (each slot's make gets a useful share of -j and its QEMU a CPU),
// at most what memory holds, at most one per commit, at least one.
func DefaultJobs(r Resources) int {
	n := r.CPUs / 4
	if r.PerSlot > 0 && r.MemAvail > 0 {
		n = min(n, int(r.MemAvail/r.PerSlot))
	}
	if r.MaxSlots > 0 {
		n = min(n, r.MaxSlots)
	}
	if r.Commits > 0 {
		n = min(n, r.Commits)
	}
	return max(n, 1)
}

// MakeJobs is each slot's share of make -j: the CPUs split evenly over the
// slots, at least one.
func MakeJobs(cpus, slots int) int {
	if slots < 1 {
		slots = 1
	}
	return max(1, (cpus+slots-1)/slots)
}

// Stages are the work of one commit, split where a pipeline can overlap
// it: Build (check out, build, cut) and Boot (boot, test, record). A slot
// runs at most one Build and one Boot at a time: while commit i boots,
// commit i+1 builds.
type Stages struct {
	// Build prepares commit i in slot. It returns an error only for what
	// stops the whole series (cancellation); a commit's own failure is
	// its verdict, reported by Failed.
	Build func(ctx context.Context, slot, i int) error
	// Boot finishes commit i (a no-op when its verdict is already known).
	Boot func(ctx context.Context, slot, i int) error
	// Failed says, once Boot returned, whether commit i's verdict stops
	// a series that does not keep going.
	Failed func(i int) bool
}

// Options shape a Run.
type Options struct {
	Slots     int
	KeepGoing bool
}

// Result says how far the series went.
type Result struct {
	// Done lists the commits whose Boot returned, in commit order.
	Done []int
	// Stop is the first failing commit when the series stopped there, or
	// -1.
	Stop int
}

// Run tests commits 0..n-1 over o.Slots slots (Assign), each slot
// pipelining its commits. Without KeepGoing the first failure (in commit
// order) stops the series: commits after it are not started and those
// running are cancelled; commits before it still finish, so the first
// failure is the one reported. The error is the first stage error (ctx's
// when it was cancelled).
func Run(ctx context.Context, n int, o Options, st Stages) (Result, error) {
	r := &runner{st: st, keep: o.KeepGoing, stop: n, cancels: map[int]context.CancelFunc{}, done: make([]bool, n)}
	var wg sync.WaitGroup
	for slot, commits := range Assign(n, o.Slots) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.slot(ctx, slot, commits)
		}()
	}
	wg.Wait()
	res := Result{Stop: -1}
	if r.stop < n {
		res.Stop = r.stop
	}
	for i, d := range r.done {
		if d && (res.Stop < 0 || i <= res.Stop) {
			res.Done = append(res.Done, i)
		}
	}
	if r.err == nil {
		r.err = ctx.Err()
	}
	return res, r.err
}

type runner struct {
	st      Stages
	keep    bool
	mu      sync.Mutex
	stop    int // commits after it are not tested
	err     error
	cancels map[int]context.CancelFunc
	done    []bool
}

// start gives commit i its own context, or false when it is not to run.
func (r *runner) start(ctx context.Context, i int) (context.Context, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i > r.stop || r.err != nil || ctx.Err() != nil {
		return nil, false
	}
	c, cancel := context.WithCancel(ctx)
	r.cancels[i] = cancel
	return c, true
}

func (r *runner) end(i int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.cancels[i]; c != nil {
		c()
		delete(r.cancels, i)
	}
}

// fail records a stage error; the first one stops everything.
func (r *runner) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = err
		for _, c := range r.cancels {
			c()
		}
	}
}

// finished records commit i's verdict and, when it stops the series,
// cancels the commits after it.
func (r *runner) finished(i int) {
	failed := r.st.Failed != nil && r.st.Failed(i)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done[i] = true
	if !failed || r.keep || i >= r.stop {
		return
	}
	r.stop = i
	for j, c := range r.cancels {
		if j > i {
			c()
		}
	}
}

func (r *runner) stopped(i int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return i > r.stop
}

// slot runs its commits through a two-stage pipeline: the build of the
// next commit overlaps the boot of the previous one. The hand-off is
// unbuffered, so a slot never holds more than one built commit waiting
// and one booting.
func (r *runner) slot(ctx context.Context, slot int, commits []int) {
	type built struct {
		i   int
		ctx context.Context
	}
	ch := make(chan built)
	go func() {
		defer close(ch)
		for _, i := range commits {
			c, ok := r.start(ctx, i)
			if !ok {
				return
			}
			if err := r.st.Build(c, slot, i); err != nil {
				r.end(i)
				if !r.stopped(i) {
					r.fail(err)
				}
				return
			}
			ch <- built{i, c}
		}
	}()
	for b := range ch {
		if b.ctx.Err() != nil {
			r.end(b.i) // stopped while it waited: no QEMU for nothing
			continue
		}
		err := r.st.Boot(b.ctx, slot, b.i)
		r.end(b.i)
		switch {
		case err != nil && !r.stopped(b.i):
			r.fail(err)
		case err == nil:
			r.finished(b.i)
		}
	}
}
