package cache

import (
	"fmt"
	"sort"
	"time"
)

// Summary is what the cache says about one commit, for "git rapido log".
type Summary struct {
	Verdict  string // an entry's status, "flaky", or "untrusted" (never an untrusted claim)
	Reason   string
	Duration time.Duration
	Source   string  // fresh: tested as this very commit; cached: found by its tree
	Entry    *Judged // the trusted entry shown; nil when none is trusted
}

// Summarize picks a commit's verdict from its tree's judged entries: only
// trusted ones count, the one made as this very commit (same commit, or
// same parents: the id differs only by the trailer it got) first, else the
// latest; trusted entries of one spec that disagree make it "flaky". js
// must not be empty.
func Summarize(js []Judged, commit, parents string) Summary {
	var trusted []Judged
	for _, j := range js {
		if j.Trust != Untrusted {
			trusted = append(trusted, j)
		}
	}
	if len(trusted) == 0 {
		return Summary{Verdict: "untrusted",
			Reason: fmt.Sprintf("%d untrusted verdict(s), e.g. %s by %s", len(js), js[0].Status, orUnknown(js[0].By))}
	}
	sort.SliceStable(trusted, func(i, j int) bool { return trusted[i].Time.After(trusted[j].Time) })
	s := Summary{Source: "cached", Entry: &trusted[0]}
	for i, x := range trusted {
		if x.Commit == commit || (x.Parents == parents && x.Parents != "") {
			s.Source, s.Entry = "fresh", &trusted[i]
			break
		}
	}
	s.Verdict, s.Reason, s.Duration = s.Entry.Status, s.Entry.Reason, s.Entry.Duration
	for _, x := range trusted {
		if Decide(js, x.Spec).Outcome != Flaky {
			continue
		}
		s.Verdict, s.Reason = "flaky", "trusted verdicts for this tree disagree"
		if x.Flaky() {
			s.Reason = fmt.Sprintf("%s: %d of %d run(s) passed", x.Status, x.Passed, x.RunCount())
		}
		break
	}
	return s
}
