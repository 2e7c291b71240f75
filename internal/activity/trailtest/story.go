package trailtest

import (
	"fmt"
	"time"
)

// The story's accounts, grant and people.
const (
	Prod      = "111111111111"
	Org       = "o-a1b2c3d4e5"
	GrantID   = "prod/2026-11/alice-admin-inc4821"
	OtherID   = "prod/2026-11/alice-admin-other"
	BobID     = "prod/2026-11/bob-admin"
	UnusedID  = "prod/2026-11/carol-admin"
	RevokedID = "prod/2026-11/dave-admin"
)

// Window is the story's grant's window: two hours across midnight UTC.
var (
	Start = time.Date(2026, 11, 20, 23, 0, 0, 0, time.UTC)
	End   = Start.Add(2 * time.Hour)
	// Revoked is when dave's grant (same window) was revoked.
	Revoked = Start.Add(30 * time.Minute)
)

// Sessions of the story.
var (
	Alice1 = Session{Account: Prod, Role: "Admin", Name: "gh-alice-prod-2026-11-alice-admin-inc4821", Key: "ASIAALICEGRANTONE001", SourceIdentity: "gh-alice", Request: GrantID}
	Alice2 = Session{Account: Prod, Role: "Admin", Name: "gh-alice-prod-2026-11-alice-admin-inc4821", Key: "ASIAALICEGRANTTWO002", SourceIdentity: "gh-alice", Request: GrantID}
	// AliceOther is the same person's session under another grant: same
	// role, same source identity, not this grant's.
	AliceOther = Session{Account: Prod, Role: "Admin", Name: "gh-alice-prod-2026-11-alice-admin-other", Key: "ASIAALICEOTHERGRANT3", SourceIdentity: "gh-alice", Request: OtherID}
	Bob        = Session{Account: Prod, Role: "Admin", Name: "gh-bob-prod-2026-11-bob-admin", Key: "ASIABOBGRANT00000004", SourceIdentity: "gh-bob", Request: BobID}
	// Forged is a session of another role tagged with the grant's request:
	// only the grant's roles count.
	Forged = Session{Account: Prod, Role: "ReadOnly", Name: "gh-alice-prod-2026-11-alice-admin-inc4821", Key: "ASIAFORGEDTAG0000005", SourceIdentity: "gh-alice", Request: GrantID}
	Dave   = Session{Account: Prod, Role: "Admin", Name: "gh-dave-prod-2026-11-dave-admin", Key: "ASIADAVEREVOKED00006", SourceIdentity: "gh-dave", Request: RevokedID}
	// Mallory assumed the grant's role herself, with the grant's tag and
	// session name: only the broker's AssumeRole makes a session the
	// grant's, when the reader knows the broker (the broker does).
	Mallory = Session{Account: Prod, Role: "Admin", Name: "gh-alice-prod-2026-11-alice-admin-inc4821", Key: "ASIAMALLORYFRAME0009", SourceIdentity: "gh-alice", Request: GrantID,
		CallerAccount: Prod, CallerID: "AIDAMALLORYEXAMPLE01"}
	// Deployer is a role alice's first session chained into: its calls
	// are the grant's.
	Deployer = Session{Account: Prod, Role: "Deployer", Name: "chained", Key: "ASIACHAINEDDEPLOYER0"}
)

// ConsoleKey is the key the console minted when alice signed in.
const ConsoleKey = "ASIACONSOLEMINTED007"

// StoryFiles are the trail's log files for the story, by key, in an
// organisation trail under prefix: alice's grant used in us-east-1 and
// eu-west-1 on both sides of midnight, through the CLI and the console,
// a write that failed, sensitive calls; bob's grant and alice's other
// grant in the same files; dave's revoked grant; a file delivered the day
// after; a file delivered before the window (never read); and one corrupt
// file.
func StoryFiles(prefix string) map[string][]byte {
	at := func(h, m int) time.Time { return time.Date(2026, 11, 20, h, m, 0, 0, time.UTC) }
	next := func(h, m int) time.Time { return time.Date(2026, 11, 21, h, m, 0, 0, time.UTC) }
	n := 0
	id := func() string { n++; return fmt.Sprintf("e0000000-0000-4000-8000-%012d", n) }
	key := func(region string, delivered time.Time) string {
		return Key(prefix, Org, Prod, region, delivered, fmt.Sprintf("u%03d", len(region)+delivered.Hour()*60+delivered.Minute()))
	}
	files := map[string][]byte{}
	// Before the window: alice's other grant, and a file no scan opens.
	files[key("us-east-1", at(20, 10))] = File(
		AssumeRole(AliceOther, at(20, 0), id()),
		APICall(AliceOther, Call{At: at(20, 5), Source: "iam.amazonaws.com", Name: "DeleteRole", Region: "us-east-1"}, id()),
	)
	// us-east-1 before midnight: the AssumeRoles (STS's global endpoint
	// logs there), IAM calls, bob's and the forged session.
	files[key("us-east-1", at(23, 30))] = File(
		AssumeRole(Alice1, at(23, 5), id()),
		AssumeRole(Bob, at(23, 6), id()),
		AssumeRole(Forged, at(23, 7), id()),
		AssumeRole(Dave, at(23, 8), id()),
		APICall(Alice1, Call{At: at(23, 20), Source: "iam.amazonaws.com", Name: "CreateAccessKey", Region: "us-east-1", Resources: []string{"arn:aws:iam::111111111111:user/deploy"}}, id()),
		APICall(Bob, Call{At: at(23, 21), Source: "iam.amazonaws.com", Name: "DeleteUser", Region: "us-east-1"}, id()),
		APICall(Forged, Call{At: at(23, 22), Source: "iam.amazonaws.com", Name: "DeleteRolePolicy", Region: "us-east-1"}, id()),
		APICall(AliceOther, Call{At: at(23, 23), Source: "iam.amazonaws.com", Name: "DeletePolicy", Region: "us-east-1"}, id()),
		APICall(Dave, Call{At: at(23, 15), Source: "ec2.amazonaws.com", Name: "DescribeInstances", Region: "us-east-1", ReadOnly: true}, id()),
		APICall(Dave, Call{At: at(23, 45), Source: "ec2.amazonaws.com", Name: "TerminateInstances", Region: "us-east-1", Error: "Client.UnauthorizedOperation"}, id()),
	)
	// us-east-1, a forged session of the grant's role, and alice's chain
	// into another role.
	files[key("us-east-1", at(23, 58))] = File(
		AssumeRole(Mallory, at(23, 24), id()),
		APICall(Mallory, Call{At: at(23, 25), Source: "iam.amazonaws.com", Name: "DeleteAccountPasswordPolicy", Region: "us-east-1"}, id()),
		Chain(Alice1, Deployer, at(23, 26), id()),
		APICall(Deployer, Call{At: at(23, 27), Source: "lambda.amazonaws.com", Name: "DeleteFunction", Region: "us-east-1", Resources: []string{"arn:aws:lambda:us-east-1:111111111111:function:payments"}}, id()),
	)
	// eu-west-1 before midnight: a read, a security-group change and a
	// delete that was refused.
	files[key("eu-west-1", at(23, 55))] = File(
		APICall(Alice1, Call{At: at(23, 10), Source: "ec2.amazonaws.com", Name: "DescribeInstances", Region: "eu-west-1", ReadOnly: true}, id()),
		APICall(Alice1, Call{At: at(23, 40), Source: "ec2.amazonaws.com", Name: "AuthorizeSecurityGroupIngress", Region: "eu-west-1", Resources: []string{"arn:aws:ec2:eu-west-1:111111111111:security-group/sg-0123456789abcdef0"}}, id()),
		APICall(Alice1, Call{At: at(23, 50), Source: "s3.amazonaws.com", Name: "DeleteBucket", Region: "eu-west-1", Error: "AccessDenied"}, id()),
		APICall(Bob, Call{At: at(23, 51), Source: "ec2.amazonaws.com", Name: "RunInstances", Region: "eu-west-1"}, id()),
	)
	// After midnight: alice's second session, then the console.
	files[key("us-east-1", next(0, 40))] = File(
		AssumeRole(Alice2, next(0, 10), id()),
		ConsoleLogin(Alice2, next(0, 20), "Success", id()),
		APICall(Alice2, Call{At: next(0, 30), Source: "sts.amazonaws.com", Name: "GetCallerIdentity", Region: "us-east-1", ReadOnly: true}, id()),
		APICall(Alice2, Call{At: next(0, 15), Source: "kms.amazonaws.com", Name: "ScheduleKeyDeletion", Region: "us-east-1", Error: "AccessDeniedException"}, id()),
	)
	files[key("eu-west-1", next(0, 45))] = File(
		APICall(Alice2, Call{At: next(0, 25), Source: "ec2.amazonaws.com", Name: "TerminateInstances", Region: "eu-west-1", FromConsole: true, ConsoleKey: ConsoleKey,
			Resources: []string{"arn:aws:ec2:eu-west-1:111111111111:instance/i-0abc"}}, id()),
		// Another session's console, same role: not the grant's.
		APICall(Bob, Call{At: next(0, 26), Source: "ec2.amazonaws.com", Name: "StopInstances", Region: "eu-west-1", FromConsole: true, ConsoleKey: "ASIABOBCONSOLE000008"}, id()),
		// Alice's other grant, inside this window: the same person, the
		// same source identity, not this grant.
		APICall(AliceOther, Call{At: next(0, 27), Source: "ec2.amazonaws.com", Name: "DeleteVolume", Region: "eu-west-1"}, id()),
	)
	// Delivered the day after the window's last day, within 24 hours of
	// its end: a late file.
	files[key("us-east-1", time.Date(2026, 11, 22, 0, 30, 0, 0, time.UTC))] = File(
		APICall(Alice2, Call{At: next(0, 58), Source: "ec2.amazonaws.com", Name: "StopInstances", Region: "us-east-1", Resources: []string{"arn:aws:ec2:us-east-1:111111111111:instance/i-0def"}}, id()),
	)
	// A file cut short: its first record is read, the fault reported, and
	// the other files still read.
	files[key("eu-west-1", next(0, 52))] = Cut(
		APICall(Alice2, Call{At: next(0, 50), Source: "ec2.amazonaws.com", Name: "DescribeVolumes", Region: "eu-west-1", ReadOnly: true}, id()),
		APICall(Alice2, Call{At: next(0, 51), Source: "ec2.amazonaws.com", Name: "DeleteVolume", Region: "eu-west-1"}, id()),
	)
	return files
}
