package activity_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/activity"
	"github.com/elevate-gitops/elevate/internal/activity/trailtest"
)

// The benchmark's day: one account's organisation trail in two regions,
// 500 records a file, for a grant whose window is the whole day.
const (
	benchRecords = 500 // a file's
	benchBodies  = 20  // distinct files, each served under many keys
)

var (
	benchDay     = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	benchRegions = []string{"us-east-1", "eu-west-1"}
	benchGrant   = trailtest.Session{Account: trailtest.Prod, Role: "Admin", Name: "gh-alice-prod-2026-11-alice-admin-inc4821",
		Key: "ASIABENCHGRANT000001", SourceIdentity: "gh-alice", Request: trailtest.GrantID}
)

// benchBody is one log file's gzipped bytes, its uncompressed size, and
// how many of the grant's calls it holds.
type benchBody struct {
	gz         []byte
	size       int
	grantCalls int
}

// benchFixture are the distinct files a day's keys serve: the first
// holds the grant's AssumeRole (served once), the others are served in
// turn, the first four of them with one of the grant's calls each.
var benchFixture = sync.OnceValues(func() (first benchBody, bodies []benchBody) {
	// 400 people's sessions of four roles (the grant's among them), each
	// person with a request of their own.
	roles := []string{"Admin", "ReadOnly", "Deploy", "PowerUser"}
	var others []trailtest.Session
	for i := range 400 {
		others = append(others, trailtest.Session{Account: trailtest.Prod, Role: roles[i%len(roles)],
			Name: fmt.Sprintf("gh-person%03d-prod-2026-11-change%03d", i, i), Key: fmt.Sprintf("ASIAOTHER%011d", i),
			SourceIdentity: fmt.Sprintf("gh-person%03d", i), Request: fmt.Sprintf("prod/2026-11/change%03d", i)})
	}
	calls := []trailtest.Call{
		{Source: "ec2.amazonaws.com", Name: "DescribeInstances", ReadOnly: true},
		{Source: "ec2.amazonaws.com", Name: "DescribeSecurityGroups", ReadOnly: true},
		{Source: "s3.amazonaws.com", Name: "GetObject", ReadOnly: true},
		{Source: "s3.amazonaws.com", Name: "PutObject", Resources: []string{"arn:aws:s3:::app-data/uploads/report.csv"}},
		{Source: "iam.amazonaws.com", Name: "GetRole", ReadOnly: true},
		{Source: "iam.amazonaws.com", Name: "PutRolePolicy", Resources: []string{"arn:aws:iam::111111111111:role/app"}},
		{Source: "kms.amazonaws.com", Name: "Decrypt", ReadOnly: true},
		{Source: "lambda.amazonaws.com", Name: "Invoke"},
		{Source: "dynamodb.amazonaws.com", Name: "Query", ReadOnly: true},
		{Source: "logs.amazonaws.com", Name: "PutLogEvents"},
		{Source: "ec2.amazonaws.com", Name: "TerminateInstances", Error: "Client.UnauthorizedOperation"},
		{Source: "sts.amazonaws.com", Name: "GetCallerIdentity", ReadOnly: true},
	}
	step := 24 * time.Hour / (benchBodies * benchRecords)
	body := func(k int, assume bool, grantCalls int) benchBody {
		records := make([]trailtest.Record, 0, benchRecords)
		for i := range benchRecords {
			n := k*benchRecords + i
			at := benchDay.Add(time.Duration(n) * step)
			id := fmt.Sprintf("e%02d-%04d-4000-8000-000000000000", k, i)
			s := others[n*7%len(others)]
			switch {
			case assume && i == 0:
				records = append(records, trailtest.AssumeRole(benchGrant, at, id))
			case i >= 1 && i <= grantCalls:
				records = append(records, trailtest.APICall(benchGrant, trailtest.Call{At: at, Source: "iam.amazonaws.com", Name: "CreateAccessKey",
					Region: "us-east-1", Resources: []string{"arn:aws:iam::111111111111:user/deploy"}}, id))
			case n%50 == 0:
				records = append(records, trailtest.AssumeRole(s, at, id))
			case n%97 == 0:
				records = append(records, trailtest.ConsoleLogin(s, at, "Success", id))
			default:
				c := calls[n%len(calls)]
				c.At, c.Region = at, benchRegions[n%len(benchRegions)]
				if n%13 == 0 {
					c.FromConsole, c.ConsoleKey = true, fmt.Sprintf("ASIACONSOLE%09d", n)
				}
				records = append(records, trailtest.APICall(s, c, id))
			}
		}
		gz := trailtest.File(records...)
		r, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			panic(err)
		}
		size, err := io.Copy(io.Discard, r)
		if err != nil {
			panic(err)
		}
		return benchBody{gz: gz, size: int(size), grantCalls: grantCalls}
	}
	first = body(0, true, 1)
	for k := range benchBodies {
		calls := 0
		if k < 4 {
			calls = 1
		}
		bodies = append(bodies, body(k, false, calls))
	}
	return first, bodies
})

// BenchmarkScanDay scans a day of one account's trail for one grant
// whose window covers it, so that every file is read: events per second,
// uncompressed MB per second, and the scan's peak heap above what it
// began with, all of it and what the collector found live (neither
// should grow with the day's events).
func BenchmarkScanDay(b *testing.B) {
	for _, events := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("events=%d", events), func(b *testing.B) { benchmarkScanDay(b, events) })
	}
}

func benchmarkScanDay(b *testing.B, events int) {
	first, bodies := benchFixture()
	files := events / benchRecords
	mem := trailtest.NewMemory("trail-bucket")
	var size, grantCalls int
	for j := range files {
		body := bodies[j%len(bodies)]
		if j == 0 {
			body = first
		}
		region := benchRegions[j%len(benchRegions)]
		delivered := benchDay.Add(5*time.Minute + time.Duration(j)*(24*time.Hour-10*time.Minute)/time.Duration(files))
		mem.Put(trailtest.Key("", trailtest.Org, trailtest.Prod, region, delivered, fmt.Sprintf("B%05d", j)), body.gz)
		size += body.size
		grantCalls += body.grantCalls
	}
	g := activity.Grant{ID: trailtest.GrantID, Targets: []activity.Target{{AccountID: trailtest.Prod, Role: "Admin"}},
		Start: benchDay, End: benchDay.Add(24 * time.Hour)}
	o := activity.Options{Now: benchDay.Add(48 * time.Hour)}
	var peakHeap, peakLive uint64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		mem.Reset()
		stop := sampleHeap()
		b.StartTimer()
		s, err := activity.Scan(context.Background(), mem, activity.Location{Bucket: "trail-bucket"}, g, o)
		b.StopTimer()
		heap, live := stop()
		peakHeap, peakLive = max(peakHeap, heap), max(peakLive, live)
		if err != nil {
			b.Fatal(err)
		}
		if s.Files != files || s.Calls != grantCalls || s.Sessions != 1 || len(s.Problems) != 0 {
			b.Fatalf("files %d calls %d sessions %d problems %q, want %d %d 1 none", s.Files, s.Calls, s.Sessions, s.Problems, files, grantCalls)
		}
		b.StartTimer()
	}
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(events*b.N)/secs, "events/s")
	b.ReportMetric(float64(size*b.N)/1e6/secs, "MB/s")
	b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(peakLive)/(1<<20), "peak-live-MB")
}

// sampleHeap collects garbage, then samples the heap every 5ms until
// stop, which returns the peaks above where it began of its objects (live
// and not yet swept, as the scan's memory use goes) and of what the
// collector last found live (the scan's own, whatever the collector's
// pace).
func sampleHeap() (stop func() (heap, live uint64)) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	read := func() (uint64, uint64) {
		metrics.Read(sample)
		return sample[0].Value.Uint64(), sample[1].Value.Uint64()
	}
	baseHeap, baseLive := read()
	done := make(chan struct{})
	result := make(chan [2]uint64)
	go func() {
		peakHeap, peakLive := baseHeap, baseLive
		take := func() {
			h, l := read()
			peakHeap, peakLive = max(peakHeap, h), max(peakLive, l)
		}
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				take()
			case <-done:
				take()
				result <- [2]uint64{peakHeap - baseHeap, peakLive - baseLive}
				return
			}
		}
	}()
	return func() (uint64, uint64) {
		close(done)
		r := <-result
		return r[0], r[1]
	}
}
