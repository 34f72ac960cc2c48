package vmrun

import (
	"context"
	"fmt"
	"testing"
)

// runSeq is a test run that returns statuses in turn.
func runSeq(statuses ...Status) (func(context.Context, *Spec, Host) (*Verdict, error), *int) {
	calls := 0
	return func(context.Context, *Spec, Host) (*Verdict, error) {
		s := statuses[calls%len(statuses)]
		calls++
		return &Verdict{Status: s, Reason: string(s)}, nil
	}, &calls
}

// TestRepeatStopsAtFirstFailure: any failure is the verdict, and the
// verdict says how many runs passed.
func TestRepeatStopsAtFirstFailure(t *testing.T) {
	run, calls := runSeq(Pass, Pass, Fail)
	v, err := (&Tester{Run: run}).runN(context.Background(), &Spec{}, nil, 5, "", &worktreeCheck{})
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != Fail || v.Runs != 3 || v.Passed != 2 || *calls != 3 {
		t.Errorf("pass, pass, fail repeated 5 times: %s after %d runs (%d passed, %d calls); want fail after 3, 2 passed",
			v.Status, v.Runs, v.Passed, *calls)
	}
	run, calls = runSeq(Pass)
	v, _ = (&Tester{Run: run}).runN(context.Background(), &Spec{}, nil, 4, "", &worktreeCheck{})
	if v.Status != Pass || v.Runs != 4 || v.Passed != 4 || *calls != 4 {
		t.Errorf("a steady pass repeated 4 times: %s, %d of %d; want pass, 4 of 4", v.Status, v.Passed, v.Runs)
	}
}

// TestRereadSharesTheCheck: the first run's build record takes the
// worktree check's answer (one read of the worktree after make, not two);
// a repeated run, whose make would read the worktree later, reads its own.
func TestRereadSharesTheCheck(t *testing.T) {
	reads := 0
	check := &worktreeCheck{read: func(context.Context) (*Worktree, error) {
		reads++
		return &Worktree{Tree: "t1"}, nil
	}}
	var got []string
	run := func(ctx context.Context, _ *Spec, h Host) (*Verdict, error) {
		if h.Reread == nil {
			got = append(got, "own read")
		} else {
			tree, err := h.Reread(ctx)
			h.Built()
			got = append(got, tree+fmt.Sprint(err))
		}
		return &Verdict{Status: Pass}, nil
	}
	if _, err := (&Tester{Run: run}).runN(context.Background(), &Spec{}, nil, 2, "t1", check); err != nil {
		t.Fatal(err)
	}
	check.worktree(context.Background())
	if want := []string{"t1<nil>", "own read"}; fmt.Sprint(got) != fmt.Sprint(want) || reads != 1 {
		t.Errorf("runs read %q with %d reads of the worktree; want %q with 1", got, reads, want)
	}
}

func TestCacheable(t *testing.T) {
	for s, want := range map[Status]bool{Pass: true, Fail: true, Crash: true, BuildFail: true, Infra: false, "": false} {
		if got := Cacheable(s); got != want {
			t.Errorf("Cacheable(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestEntryRoundTrip: a verdict stored and read back keeps what log,
// bisect and the trailer need.
func TestEntryRoundTrip(t *testing.T) {
	v := &Verdict{Status: Fail, Reason: "test exited 1", KernelRelease: "6.1", Runs: 3, Passed: 2,
		Timings: Timings{Build: 5, Test: 7}}
	e := EntryOf("spec", "tree", v)
	got := VerdictOf(e)
	if got.Status != Fail || got.Reason != v.Reason || got.Timings != v.Timings || got.Runs != 3 || got.Passed != 2 || e.Tree != "tree" {
		t.Errorf("round trip: %+v -> %+v -> %+v", v, e, got)
	}
	if !e.Flaky() {
		t.Error("2 of 3 passed is not flaky")
	}
}
