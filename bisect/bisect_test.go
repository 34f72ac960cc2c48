package bisect

import (
	"context"
	"testing"

	"github.com/git-rapido/git-rapido/vmrun"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		s    vmrun.Status
		p    Policy
		want Mark
	}{
		{vmrun.Pass, Policy{}, Good},
		{vmrun.Fail, Policy{}, Bad},
		{vmrun.Crash, Policy{}, Bad},
		{vmrun.Hang, Policy{}, Bad},
		{vmrun.Hang, Policy{HangSkip: true}, Skip},
		{vmrun.BuildFail, Policy{}, Skip},
		{vmrun.BuildFail, Policy{BuildFailBad: true}, Bad},
		{vmrun.Infra, Policy{}, Abort},
		{vmrun.Infra, Policy{BuildFailBad: true, HangSkip: true}, Abort},
		{"", Policy{}, Abort},
	} {
		if got := Classify(tc.s, tc.p); got != tc.want {
			t.Errorf("Classify(%q, %+v) = %s, want %s", tc.s, tc.p, got, tc.want)
		}
	}
}

func TestSkippedOutputParses(t *testing.T) {
	out := "There are only 'skip'ped commits left to test.\nThe first bad commit could be any of:\n" +
		"1111111111111111111111111111111111111111\n2222222222222222222222222222222222222222\nWe cannot bisect more!\n"
	m := skippedRe.FindStringSubmatch(out)
	if m == nil || len(shaRe.FindAllString(m[1], -1)) != 2 {
		t.Fatalf("skipped output not recognised: %q", m)
	}
	if m := firstBadRe.FindStringSubmatch("3333333333333333333333333333333333333333 is the first bad commit\ncommit 33..."); m == nil {
		t.Fatal("first bad commit not recognised")
	}
}

// fakeTester returns verdicts in sequence, to test --repeat.
type fakeTester struct {
	statuses []vmrun.Status
	calls    int
}

func (f *fakeTester) Test(ctx context.Context) (*vmrun.Verdict, bool, error) {
	s := f.statuses[f.calls%len(f.statuses)]
	f.calls++
	return &vmrun.Verdict{Status: s, Reason: string(s)}, false, nil
}

type noGit struct{}

func (noGit) Git(ctx context.Context, args ...string) (string, error) { return "subject", nil }

func TestRepeatAnyFailureIsBad(t *testing.T) {
	ft := &fakeTester{statuses: []vmrun.Status{vmrun.Pass, vmrun.Pass, vmrun.Fail}}
	st, err := testHere(context.Background(), noGit{}, ft, Options{Repeat: 5}, "c", "step")
	if err != nil {
		t.Fatal(err)
	}
	if st.Mark != Bad || st.Runs != 3 || ft.calls != 3 {
		t.Errorf("repeat: mark %s after %d runs (%d calls), want bad after 3", st.Mark, st.Runs, ft.calls)
	}
	ft = &fakeTester{statuses: []vmrun.Status{vmrun.Pass}}
	st, _ = testHere(context.Background(), noGit{}, ft, Options{Repeat: 4}, "c", "step")
	if st.Mark != Good || st.Runs != 4 {
		t.Errorf("repeat of a steady pass: mark %s after %d runs, want good after 4", st.Mark, st.Runs)
	}
}
