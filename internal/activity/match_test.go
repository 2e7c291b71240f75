package activity

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/activity/trailtest"
)

// Sessions of the matching rules, beside the story's (trailtest.Alice1 is
// the grant's, trailtest.AliceOther the same person's under another
// request, trailtest.Forged another role's tagged with the grant).
var (
	// untagged is a session of the grant's role that no request tagged,
	// under the grant's session name: its ARN is the grant's session's.
	untagged = trailtest.Session{Account: trailtest.Prod, Role: "Admin", Name: trailtest.Alice1.Name, Key: "ASIAUNTAGGEDADMIN009", SourceIdentity: "gh-alice"}
	// forgedKey uses the key of the session trailtest.Forged's AssumeRole
	// made (another role, tagged with the grant) in a call of the grant's
	// role.
	forgedKey = trailtest.Session{Account: trailtest.Prod, Role: "Admin", Name: "gh-mallory", Key: trailtest.Forged.Key, SourceIdentity: "gh-mallory"}
)

// read is a read-only call of s at at.
func read(s trailtest.Session, at time.Time, id string) trailtest.Record {
	return trailtest.APICall(s, trailtest.Call{At: at, Source: "ec2.amazonaws.com", Name: "DescribeInstances", Region: "us-east-1", ReadOnly: true}, id)
}

// console is a call of s made in the console with the keys it minted.
func console(s trailtest.Session, at time.Time, id string) trailtest.Record {
	return trailtest.APICall(s, trailtest.Call{At: at, Source: "ec2.amazonaws.com", Name: "StopInstances", Region: "us-east-1",
		FromConsole: true, ConsoleKey: "ASIACONSOLE" + id}, id)
}

// memoryTrail is a bucket holding an organisation trail's files of the
// story's account, one file per list of records, delivered a minute apart
// from the window's start in us-east-1 (so read in this order by one
// reader).
func memoryTrail(files ...[]trailtest.Record) *trailtest.Memory {
	mem := trailtest.NewMemory("trail-bucket")
	for i, records := range files {
		delivered := trailtest.Start.Add(time.Duration(10+i) * time.Minute)
		mem.Put(trailtest.Key("", trailtest.Org, trailtest.Prod, "us-east-1", delivered, fmt.Sprintf("f%03d", i)), trailtest.File(records...))
	}
	return mem
}

func grantOf(issued ...Issued) Grant {
	return Grant{ID: trailtest.GrantID, Targets: []Target{{AccountID: trailtest.Prod, Role: "Admin"}}, Start: trailtest.Start, End: trailtest.End, Issued: issued}
}

func scanMemory(t *testing.T, mem *trailtest.Memory, g Grant, readers int) *Summary {
	t.Helper()
	s, err := Scan(context.Background(), mem, Location{Bucket: "trail-bucket"}, g, Options{Now: trailtest.End.Add(LateFiles), Readers: readers})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Problems) != 0 {
		t.Errorf("problems %q", s.Problems)
	}
	return s
}

// TestMatchRules are the rules that tell a grant's sessions from everyone
// else's, each with the records that show it.
func TestMatchRules(t *testing.T) {
	t.Parallel()
	at := trailtest.Start.Add(20 * time.Minute)
	from, to := trailtest.Start.Add(-5*time.Minute), trailtest.End.Add(20*time.Minute)
	second := time.Second
	tests := []struct {
		name  string
		grant Grant
		files [][]trailtest.Record
		// calls and sessions the grant is found to have made.
		calls, sessions int
	}{
		{
			name:  "the AssumeRole of the grant's role tagged with its request makes the key the grant's",
			grant: grantOf(),
			files: [][]trailtest.Record{{trailtest.AssumeRole(trailtest.Alice1, at, "a1"), read(trailtest.Alice1, at, "c1")}},
			calls: 1, sessions: 1,
		},
		{
			name:  "calls read before the AssumeRole that makes their key the grant's",
			grant: grantOf(),
			files: [][]trailtest.Record{{read(trailtest.Alice1, at, "c1"), read(trailtest.Alice1, at, "c2")}, {trailtest.AssumeRole(trailtest.Alice1, at, "a1")}},
			calls: 2, sessions: 1,
		},
		{
			name:  "a key the broker issued is the grant's without an AssumeRole",
			grant: grantOf(Issued{AccessKeyID: trailtest.Alice1.Key}),
			files: [][]trailtest.Record{{read(trailtest.Alice1, at, "c1")}},
			calls: 1, sessions: 1,
		},
		{
			name:  "the grant's tag on another role does not make its key the grant's",
			grant: grantOf(),
			files: [][]trailtest.Record{{trailtest.AssumeRole(trailtest.Forged, at, "a1"), read(forgedKey, at, "c1"), read(trailtest.Forged, at, "c2")}},
		},
		{
			name:  "the grant's tag on its role in another account does not",
			grant: grantOf(),
			files: [][]trailtest.Record{{
				trailtest.AssumeRole(trailtest.Session{Account: "222222222222", Role: "Admin", Name: "x", Key: "ASIAOTHERACCOUNT0010", Request: trailtest.GrantID}, at, "a1"),
				read(trailtest.Session{Account: trailtest.Prod, Role: "Admin", Name: "x", Key: "ASIAOTHERACCOUNT0010"}, at, "c1"),
			}},
		},
		{
			name:  "the grant's role without its tag does not, even under the grant's session name",
			grant: grantOf(),
			files: [][]trailtest.Record{{trailtest.AssumeRole(untagged, at, "a1"), read(untagged, at, "c1")}},
		},
		{
			name:  "the same person's session under another request does not count",
			grant: grantOf(),
			files: [][]trailtest.Record{{
				trailtest.AssumeRole(trailtest.AliceOther, at, "a1"), read(trailtest.AliceOther, at, "c1"),
				trailtest.AssumeRole(trailtest.Alice1, at, "a2"), read(trailtest.Alice1, at, "c2"),
			}},
			calls: 1, sessions: 1,
		},
		{
			name:  "console calls of a session the grant's AssumeRole made count",
			grant: grantOf(),
			files: [][]trailtest.Record{{console(trailtest.Alice1, at, "c1")}, {trailtest.AssumeRole(trailtest.Alice1, at, "a1"), trailtest.ConsoleLogin(trailtest.Alice1, at, "Success", "c2")}},
			calls: 2, sessions: 1,
		},
		{
			name:  "console calls of a session the broker issued count",
			grant: grantOf(Issued{AccessKeyID: trailtest.Alice1.Key, ARN: trailtest.Alice1.ARN()}),
			files: [][]trailtest.Record{{console(trailtest.Alice1, at, "c1")}},
			calls: 1, sessions: 1,
		},
		{
			name:  "console calls under the grant's session name whose AssumeRole did not name the grant do not count",
			grant: grantOf(),
			files: [][]trailtest.Record{{trailtest.AssumeRole(untagged, at, "a1"), console(untagged, at, "c1"), trailtest.ConsoleLogin(untagged, at, "Success", "c2")}},
		},
		{
			name:  "console calls of another request's session do not count",
			grant: grantOf(),
			files: [][]trailtest.Record{{trailtest.AssumeRole(trailtest.AliceOther, at, "a1"), console(trailtest.AliceOther, at, "c1"), trailtest.AssumeRole(trailtest.Bob, at, "a2"), console(trailtest.Bob, at, "c2")}},
		},
		{
			name:  "calls in [start-5m, end+20m] count, none outside",
			grant: grantOf(Issued{AccessKeyID: trailtest.Alice1.Key}),
			files: [][]trailtest.Record{{
				read(trailtest.Alice1, from.Add(-second), "c1"), read(trailtest.Alice1, from, "c2"),
				read(trailtest.Alice1, to, "c3"), read(trailtest.Alice1, to.Add(second), "c4"),
				read(trailtest.Alice1, trailtest.Start.Add(-time.Hour), "c5"), read(trailtest.Alice1, trailtest.End.Add(time.Hour), "c6"),
			}},
			calls: 2, sessions: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, readers := range []int{1, 4} {
				s := scanMemory(t, memoryTrail(tt.files...), tt.grant, readers)
				if s.Calls != tt.calls || s.Sessions != tt.sessions {
					t.Errorf("%d readers: calls %d sessions %d, want %d %d", readers, s.Calls, s.Sessions, tt.calls, tt.sessions)
				}
			}
		})
	}
}

// TestMatchPastMaxSessionsSeen: when one reader sees more sessions of the
// grant's role than it keeps apart, before the AssumeRole that makes the
// grant's, a second reading still finds the grant's calls.
func TestMatchPastMaxSessionsSeen(t *testing.T) {
	t.Parallel()
	at := trailtest.Start.Add(20 * time.Minute)
	// others returns n tiny records, each of its own session of the role.
	others := func(n int) []trailtest.Record {
		out := make([]trailtest.Record, n)
		for i := range out {
			out[i] = trailtest.Record{
				"eventTime": at.Format(time.RFC3339), "eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances", "awsRegion": "us-east-1",
				"userIdentity": map[string]any{"type": "AssumedRole", "accountId": trailtest.Prod,
					"arn": fmt.Sprintf("arn:aws:sts::%s:assumed-role/Admin/s%d", trailtest.Prod, i), "accessKeyId": fmt.Sprintf("ASIAOTHER%011d", i)},
			}
		}
		return out
	}
	grants := []trailtest.Record{read(trailtest.Alice1, at, "c1"), console(trailtest.Alice1, at, "c2"), read(trailtest.Alice1, at, "c3")}
	tests := []struct {
		name   string
		others int
		// readings is how often each file is read.
		readings int
	}{
		{"past the bound", maxSessionsSeen + 1, 2},
		{"within it", maxSessionsSeen - len(grants), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, readers := range []int{1, 4} {
				// The first file holds the others, then the grant's calls;
				// the second the AssumeRole that makes them the grant's.
				mem := memoryTrail(append(others(tt.others), grants...), []trailtest.Record{trailtest.AssumeRole(trailtest.Alice1, at, "a1")})
				s := scanMemory(t, mem, grantOf(), readers)
				if s.Calls != len(grants) || s.Sessions != 1 {
					t.Errorf("%d readers: calls %d sessions %d, want %d 1", readers, s.Calls, s.Sessions, len(grants))
				}
				if got := len(mem.Gets()); got != 2*tt.readings {
					t.Errorf("%d readers: %d files read, want the 2 files read %d times", readers, got, tt.readings)
				}
			}
		})
	}
}
