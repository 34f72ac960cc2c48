package series

import (
	"context"
	"testing"
	"time"
)

// The model of the targets: each build takes 2 s and each boot and
// test 2 s, on a machine big enough for every slot (sleeping stand-ins, not
// this machine's two cores). Time is scaled down by modelScale so that a
// benchmark run takes seconds; the ratios do not depend on the scale.
const (
	modelBuild = 2 * time.Second
	modelBoot  = 2 * time.Second
	modelScale = 20
)

// serial is today's "rebase --test": each commit built, then booted, one
// after the other.
func serial(n int, build, boot time.Duration) time.Duration {
	start := time.Now()
	for range n {
		time.Sleep(build)
		time.Sleep(boot)
	}
	return time.Since(start)
}

func timed(b *testing.B, n, slots int, build, boot time.Duration) time.Duration {
	m := &model{build: build, boot: boot}
	start := time.Now()
	res, err := Run(context.Background(), n, Options{Slots: slots}, m.stages())
	d := time.Since(start)
	if err != nil || len(res.Done) != n {
		b.Fatalf("run: %+v %v", res, err)
	}
	if m.maxMake > slots || m.maxQEMU > slots {
		b.Fatalf("%d makes, %d QEMUs at once over %d slots", m.maxMake, m.maxQEMU, slots)
	}
	return d
}

// BenchmarkModel8Commits reports, side by side in one run, the wall time
// of 8 commits tested serially, pipelined in one slot and over 4 slots,
// and the ratios to serial (targets: jobs1 <= 0.6, jobs4 <= 0.3).
func BenchmarkModel8Commits(b *testing.B) {
	build, boot := modelBuild/modelScale, modelBoot/modelScale
	for range b.N {
		ser := serial(8, build, boot)
		j1 := timed(b, 8, 1, build, boot)
		j4 := timed(b, 8, 4, build, boot)
		b.ReportMetric(ser.Seconds()*modelScale, "serial-model-s")
		b.ReportMetric(j1.Seconds()*modelScale, "jobs1-model-s")
		b.ReportMetric(j4.Seconds()*modelScale, "jobs4-model-s")
		b.ReportMetric(float64(j1)/float64(ser), "jobs1/serial")
		b.ReportMetric(float64(j4)/float64(ser), "jobs4/serial")
	}
}

// BenchmarkSchedule200Over64 measures the scheduler's own overhead: 200
// commits over 64 slots whose stages sleep d; the ideal wall time is the
// longest slot's pipeline, (commits of the longest slot + 1) * d.
func BenchmarkSchedule200Over64(b *testing.B) {
	const d = 100 * time.Millisecond
	longest := len(Assign(200, 64)[0])
	ideal := time.Duration(longest+1) * d
	for range b.N {
		wall := timed(b, 200, 64, d, d)
		b.ReportMetric((wall - ideal).Seconds(), "overhead-s")
	}
}
