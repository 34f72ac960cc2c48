package series

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestAssign(t *testing.T) {
	for _, c := range []struct {
		n, slots int
		want     [][]int
	}{
		{0, 4, nil},
		{3, 1, [][]int{{0, 1, 2}}},
		{3, 8, [][]int{{0}, {1}, {2}}},
		{7, 3, [][]int{{0, 1, 2}, {3, 4}, {5, 6}}},
		{4, 0, [][]int{{0, 1, 2, 3}}},
	} {
		if got := Assign(c.n, c.slots); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Assign(%d, %d) = %v, want %v", c.n, c.slots, got, c.want)
		}
	}
}

func TestDefaultJobs(t *testing.T) {
	const gib = 1 << 30
	for _, c := range []struct {
		r    Resources
		want int
	}{
		{Resources{CPUs: 2}, 1},
		{Resources{CPUs: 64, MemAvail: 256 * gib, PerSlot: 2 * gib}, 16},
		{Resources{CPUs: 128, MemAvail: 16 * gib, PerSlot: 2 * gib}, 8},
		{Resources{CPUs: 64, Commits: 3}, 3},
		{Resources{CPUs: 64, MaxSlots: 5}, 5},
	} {
		if got := DefaultJobs(c.r); got != c.want {
			t.Errorf("DefaultJobs(%+v) = %d, want %d", c.r, got, c.want)
		}
	}
	if MakeJobs(16, 4) != 4 || MakeJobs(2, 4) != 1 || MakeJobs(3, 2) != 2 {
		t.Error("MakeJobs")
	}
}

// model runs n commits whose build and boot sleep, counting how many of
// each run at once.
type model struct {
	build, boot  time.Duration
	fail         map[int]bool
	mu           sync.Mutex
	makes, qemus int
	maxMake      int
	maxQEMU      int
	booted       []int
	slotOf       map[int]int
}

func (m *model) stages() Stages {
	m.slotOf = map[int]int{}
	enter := func(n, mx *int) {
		m.mu.Lock()
		*n++
		*mx = max(*mx, *n)
		m.mu.Unlock()
	}
	leave := func(n *int) { m.mu.Lock(); *n--; m.mu.Unlock() }
	sleep := func(ctx context.Context, d time.Duration) error {
		select {
		case <-time.After(d):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return Stages{
		Build: func(ctx context.Context, slot, i int) error {
			enter(&m.makes, &m.maxMake)
			defer leave(&m.makes)
			m.mu.Lock()
			m.slotOf[i] = slot
			m.mu.Unlock()
			return sleep(ctx, m.build)
		},
		Boot: func(ctx context.Context, slot, i int) error {
			enter(&m.qemus, &m.maxQEMU)
			defer leave(&m.qemus)
			if err := sleep(ctx, m.boot); err != nil {
				return err
			}
			m.mu.Lock()
			m.booted = append(m.booted, i)
			m.mu.Unlock()
			return nil
		},
		Failed: func(i int) bool { return m.fail[i] },
	}
}

func TestRunConcurrencyBound(t *testing.T) {
	for _, slots := range []int{1, 2, 3} {
		m := &model{build: 5 * time.Millisecond, boot: 5 * time.Millisecond}
		res, err := Run(context.Background(), 8, Options{Slots: slots}, m.stages())
		if err != nil || len(res.Done) != 8 || res.Stop != -1 {
			t.Fatalf("slots %d: %+v %v", slots, res, err)
		}
		if m.maxMake > slots || m.maxQEMU > slots {
			t.Errorf("slots %d: %d makes and %d QEMUs at once", slots, m.maxMake, m.maxQEMU)
		}
		if slots == 1 && (m.maxMake != 1 || m.maxQEMU != 1) {
			t.Errorf("one slot: %d makes, %d QEMUs at most", m.maxMake, m.maxQEMU)
		}
	}
}

func TestRunNeighboursShareASlot(t *testing.T) {
	m := &model{}
	Run(context.Background(), 6, Options{Slots: 2}, m.stages())
	want := map[int]int{0: 0, 1: 0, 2: 0, 3: 1, 4: 1, 5: 1}
	if !reflect.DeepEqual(m.slotOf, want) {
		t.Errorf("slots %v, want %v", m.slotOf, want)
	}
}

func TestRunStopsAtFirstFailure(t *testing.T) {
	// Commit 5 fails first in time (its slot is fast), commit 2 fails
	// later: 2 is the first failure in commit order and the stop.
	m := &model{build: time.Millisecond, boot: 2 * time.Millisecond, fail: map[int]bool{2: true, 5: true}}
	res, err := Run(context.Background(), 8, Options{Slots: 2}, m.stages())
	if err != nil {
		t.Fatal(err)
	}
	if res.Stop != 2 || !reflect.DeepEqual(res.Done, []int{0, 1, 2}) {
		t.Errorf("got %+v, want stop at 2 after 0 1 2", res)
	}
	m = &model{fail: map[int]bool{2: true, 5: true}}
	res, _ = Run(context.Background(), 8, Options{Slots: 2, KeepGoing: true}, m.stages())
	if res.Stop != -1 || len(res.Done) != 8 {
		t.Errorf("keep going: %+v", res)
	}
}

func TestRunCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	m := &model{build: 10 * time.Millisecond, boot: time.Hour}
	var calls atomic.Int32
	st := m.stages()
	boot := st.Boot
	st.Boot = func(ctx context.Context, slot, i int) error {
		if calls.Add(1) == 2 {
			cancel()
		}
		return boot(ctx, slot, i)
	}
	res, err := Run(ctx, 8, Options{Slots: 2}, st)
	if !errors.Is(err, context.Canceled) || len(res.Done) != 0 {
		t.Errorf("got %+v %v", res, err)
	}
	if m.makes != 0 || m.qemus != 0 {
		t.Errorf("%d makes, %d QEMUs left running", m.makes, m.qemus)
	}
}
