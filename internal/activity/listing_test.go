package activity_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/elevate-gitops/elevate/internal/activity"
	"github.com/elevate-gitops/elevate/internal/activity/trailtest"
)

var _ activity.Bucket = (*trailtest.Memory)(nil)

// Another account of the organisation, whose folders a scan of the story's
// grant never lists.
const otherAccount = "222222222222"

// TestScanListsOnlyWhatTheWindowNeeds scans the story's grant (its window
// 2026-11-20T23:00Z – 2026-11-21T01:00Z) over a trail holding a week of
// files of two accounts, and checks every listing and read it asked of
// the bucket: the AWSLogs/ folder and the account's regions with a
// delimiter, then the days 2026/11/20, 21 and 22 of each region and no
// other; never the other account's folders; never a file delivered
// before the window opened (its start less five minutes of clock slack).
func TestScanListsOnlyWhatTheWindowNeeds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		location string // BUCKET[/PREFIX]
		prefix   string // the trail's key prefix
		org      string // "" for an account's own trail
	}{
		{"organisation trail", "trail-bucket", "", trailtest.Org},
		{"account trail", "trail-bucket", "", ""},
		{"organisation trail under a prefix", "trail-bucket/org", "org", trailtest.Org},
		{"account trail under a deep prefix", "trail-bucket/a/b", "a/b", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			loc, err := activity.ParseLocation(tt.location)
			if err != nil {
				t.Fatal(err)
			}
			mem := trailtest.NewMemory(loc.Bucket)
			body := trailtest.File(trailtest.APICall(trailtest.Bob, trailtest.Call{At: trailtest.Start, Source: "ec2.amazonaws.com", Name: "DescribeInstances", Region: "us-east-1", ReadOnly: true}, "e1"))
			regions := []string{"eu-west-1", "us-east-1"}
			// The delivery times of each day's files.
			times := []string{"00:30", "12:00", "22:00", "22:54", "22:56", "23:30"}
			var wantGets []string
			for _, account := range []string{trailtest.Prod, otherAccount} {
				for _, region := range regions {
					for day := 17; day <= 24; day++ {
						for i, hm := range times {
							var h, m int
							fmt.Sscanf(hm, "%d:%d", &h, &m)
							delivered := time.Date(2026, 11, day, h, m, 0, 0, time.UTC)
							key := trailtest.Key(tt.prefix, tt.org, account, region, delivered, fmt.Sprintf("u%d", i))
							mem.Put(key, body)
							if account == trailtest.Prod && day >= 20 && day <= 22 && !delivered.Before(trailtest.Start.Add(-5*time.Minute)) {
								wantGets = append(wantGets, key)
							}
						}
					}
					// The digest folder, a key that is no log file, and one
					// whose name carries no time (read: it may hold anything).
					folder := dir(trailtest.Key(tt.prefix, tt.org, account, region, trailtest.Start, "x"))
					mem.Put(strings.Replace(folder, "/CloudTrail/", "/CloudTrail-Digest/", 1)+"digest.json.gz", body)
					mem.Put(folder+"notes.txt", []byte("not a log"))
					mem.Put(folder+"odd.json.gz", body)
					if account == trailtest.Prod {
						wantGets = append(wantGets, folder+"odd.json.gz")
					}
				}
			}
			// Other trails' folders beside this one's: the other account's
			// in another organisation, and its own trail.
			mem.Put(trailtest.Key(tt.prefix, "o-zzzzzzzzzz", otherAccount, "us-east-1", trailtest.Start, "z"), body)
			mem.Put(trailtest.Key(tt.prefix, "", otherAccount, "us-east-1", trailtest.Start, "z"), body)

			s, err := activity.Scan(context.Background(), mem, loc, storyGrant(trailtest.GrantID), activity.Options{Now: readAt})
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Problems) != 0 {
				t.Errorf("problems %q", s.Problems)
			}

			logs := "AWSLogs/"
			if tt.prefix != "" {
				logs = tt.prefix + "/AWSLogs/"
			}
			account := logs + trailtest.Prod + "/CloudTrail/"
			if tt.org != "" {
				account = logs + tt.org + "/" + trailtest.Prod + "/CloudTrail/"
			}
			wantLists := []trailtest.Listing{{Prefix: logs, Delimiter: "/"}, {Prefix: account, Delimiter: "/"}}
			for _, region := range regions {
				for _, day := range []string{"2026/11/20/", "2026/11/21/", "2026/11/22/"} {
					wantLists = append(wantLists, trailtest.Listing{Prefix: account + region + "/" + day})
				}
			}
			// Another organisation's folder may hold the account: it is
			// looked in, for that account alone, organisations' folders
			// before the account's own.
			other := trailtest.Listing{Prefix: logs + "o-zzzzzzzzzz/" + trailtest.Prod + "/CloudTrail/", Delimiter: "/"}
			if tt.org == "" {
				wantLists = append([]trailtest.Listing{wantLists[0], other}, wantLists[1:]...)
			} else {
				wantLists = append(wantLists, other)
			}
			if diff := cmp.Diff(wantLists, mem.Lists()); diff != "" {
				t.Errorf("listings (-want +got):\n%s", diff)
			}
			gets := mem.Gets()
			slices.Sort(gets)
			slices.Sort(wantGets)
			if diff := cmp.Diff(wantGets, gets); diff != "" {
				t.Errorf("files read (-want +got):\n%s", diff)
			}
			if s.Files != len(wantGets) {
				t.Errorf("summary counts %d files, read %d", s.Files, len(wantGets))
			}
		})
	}
}

// dir is the folder of a key, with its slash.
func dir(key string) string { return key[:strings.LastIndex(key, "/")+1] }
