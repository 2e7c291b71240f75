// Package trailtest writes CloudTrail log files for tests: records in
// CloudTrail's own format (the shapes of AWS's documented examples of an
// AssumeRole in the role's account, a call with an assumed role's
// temporary credentials, a console sign-in), gzipped, at the keys an
// organisation trail uses.
package trailtest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"time"
)

// Record is one CloudTrail record, as JSON.
type Record = map[string]any

// Session is one role session, as the broker makes them.
type Session struct {
	Account, Role, Name string // Name is the RoleSessionName
	Key                 string // its access key id (ASIA…)
	SourceIdentity      string
	Request             string // the elevate-request tag ("" for a session elevate did not make)
	// CallerAccount and CallerID are who called AssumeRole, as the role's
	// account logs it (default: the broker, BrokerAccount and BrokerID).
	CallerAccount, CallerID string
}

// The story's broker, as the target accounts' AssumeRole events name it.
const (
	BrokerAccount = "999999999999"
	BrokerID      = "AROAEXAMPLEBROKER"
)

// ARN is the session's assumed-role ARN.
func (s Session) ARN() string {
	return fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", s.Account, s.Role, s.Name)
}

// RoleARN is the role's ARN.
func (s Session) RoleARN() string { return fmt.Sprintf("arn:aws:iam::%s:role/%s", s.Account, s.Role) }

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// AssumeRole is the role account's record of the AssumeRole that made s,
// with its session tags, as CloudTrail logs it in the role's account.
func AssumeRole(s Session, at time.Time, id string) Record {
	var tags []any
	if s.Request != "" {
		tags = []any{
			map[string]any{"key": "elevate-request", "value": s.Request},
			map[string]any{"key": "elevate-pr", "value": "7"},
			map[string]any{"key": "elevate-github-id", "value": "1001"},
		}
	}
	account, id := s.CallerAccount, s.CallerID
	if account == "" {
		account, id = BrokerAccount, BrokerID+":broker"
	}
	return Record{
		"eventVersion": "1.08",
		"userIdentity": map[string]any{
			"type": "AWSAccount", "principalId": id, "accountId": account,
		},
		"eventTime": stamp(at), "eventSource": "sts.amazonaws.com", "eventName": "AssumeRole",
		"awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.10", "userAgent": "aws-sdk-go-v2/1.41.0",
		"requestParameters": map[string]any{
			"roleArn": s.RoleARN(), "roleSessionName": s.Name, "sourceIdentity": s.SourceIdentity,
			"durationSeconds": 3600, "tags": tags,
			"transitiveTagKeys": []any{"elevate-request", "elevate-github-id"},
			"policy":            `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`,
		},
		"responseElements": map[string]any{
			"credentials": map[string]any{
				"accessKeyId": s.Key, "sessionToken": "<encoded session token blob>",
				"expiration": at.Add(time.Hour).UTC().Format("Jan 2, 2006, 3:04:05 PM"),
			},
			"assumedRoleUser": map[string]any{"assumedRoleId": "AROAEXAMPLEROLE:" + s.Name, "arn": s.ARN()},
			"sourceIdentity":  s.SourceIdentity,
		},
		"requestID": id, "eventID": id, "readOnly": true,
		"resources": []any{map[string]any{"ARN": s.RoleARN(), "accountId": s.Account, "type": "AWS::IAM::Role"}},
		"eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": s.Account,
		"sharedEventID": id, "eventCategory": "Management",
	}
}

// Chain is the record, in s's account, of s assuming another role (role
// chaining): its caller is s's session, with s's key.
func Chain(s, into Session, at time.Time, id string) Record {
	r := AssumeRole(into, at, id)
	r["userIdentity"] = map[string]any{
		"type": "AssumedRole", "principalId": "AROAEXAMPLEROLE:" + s.Name, "arn": s.ARN(), "accountId": s.Account, "accessKeyId": s.Key,
		"sessionContext": map[string]any{"sessionIssuer": map[string]any{"type": "Role", "arn": s.RoleARN(), "accountId": s.Account, "userName": s.Role}},
	}
	return r
}

// Call is one API call by s. errorCode "" is a success; resources are
// ARNs of the resources it names (type inferred from the service).
type Call struct {
	At        time.Time
	Source    string // iam.amazonaws.com
	Name      string // CreateUser
	Region    string
	ReadOnly  bool
	Error     string
	Resources []string
	// FromConsole marks a call made in the console, with the keys it
	// minted at sign-in (ConsoleKey), not the session's own.
	FromConsole bool
	ConsoleKey  string
}

// APICall is the record of c made with s's credentials.
func APICall(s Session, c Call, id string) Record {
	key := s.Key
	if c.FromConsole {
		key = c.ConsoleKey
	}
	r := Record{
		"eventVersion": "1.09",
		"userIdentity": map[string]any{
			"type": "AssumedRole", "principalId": "AROAEXAMPLEROLE:" + s.Name, "arn": s.ARN(),
			"accountId": s.Account, "accessKeyId": key,
			"sessionContext": map[string]any{
				"sessionIssuer":  map[string]any{"type": "Role", "principalId": "AROAEXAMPLEROLE", "arn": s.RoleARN(), "accountId": s.Account, "userName": s.Role},
				"attributes":     map[string]any{"creationDate": stamp(c.At.Add(-time.Minute)), "mfaAuthenticated": "false"},
				"sourceIdentity": s.SourceIdentity,
			},
		},
		"eventTime": stamp(c.At), "eventSource": c.Source, "eventName": c.Name, "awsRegion": c.Region,
		"sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2.15.0",
		// Parameters a summary must never show.
		"requestParameters": map[string]any{"userName": "secret-parameter-value", "policyDocument": "SECRET-POLICY"},
		"responseElements":  nil,
		"requestID":         id, "eventID": id, "readOnly": c.ReadOnly,
		"eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": s.Account, "eventCategory": "Management",
	}
	if c.FromConsole {
		r["sessionCredentialFromConsole"] = "true"
		r["userAgent"] = "AWS Internal"
	}
	if c.Error != "" {
		r["errorCode"] = c.Error
		r["errorMessage"] = "User: " + s.ARN() + " is not authorized to perform: " + c.Name
	}
	var res []any
	for _, arn := range c.Resources {
		res = append(res, map[string]any{"ARN": arn, "accountId": s.Account, "type": "AWS::Service::Resource"})
	}
	if res != nil {
		r["resources"] = res
	}
	return r
}

// ConsoleLogin is the record of s signing in to the console through the
// federation endpoint.
func ConsoleLogin(s Session, at time.Time, result, id string) Record {
	return Record{
		"eventVersion": "1.09",
		"userIdentity": map[string]any{
			"type": "AssumedRole", "principalId": "AROAEXAMPLEROLE:" + s.Name, "arn": s.ARN(), "accountId": s.Account,
			"sessionContext": map[string]any{
				"sessionIssuer":  map[string]any{"type": "Role", "principalId": "AROAEXAMPLEROLE", "arn": s.RoleARN(), "accountId": s.Account, "userName": s.Role},
				"attributes":     map[string]any{"creationDate": stamp(at.Add(-time.Minute)), "mfaAuthenticated": "false"},
				"sourceIdentity": s.SourceIdentity,
			},
		},
		"eventTime": stamp(at), "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "awsRegion": "us-east-1",
		"sourceIPAddress": "198.51.100.7", "userAgent": "Mozilla/5.0", "requestParameters": nil,
		"responseElements":    map[string]any{"ConsoleLogin": result},
		"additionalEventData": map[string]any{"MobileVersion": "No", "MFAUsed": "No"},
		"eventID":             id, "readOnly": false, "eventType": "AwsConsoleSignIn", "managementEvent": true,
		"recipientAccountId": s.Account, "eventCategory": "Management",
	}
}

// File is one log file's bytes: {"Records":[…]}, gzipped.
func File(records ...Record) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	if err := json.NewEncoder(gz).Encode(map[string]any{"Records": records}); err != nil {
		panic(err)
	}
	if err := gz.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// Cut is a log file whose JSON stops halfway through its last record,
// gzipped whole: the records before it can be read, the rest cannot.
func Cut(records ...Record) []byte {
	whole, err := json.Marshal(map[string]any{"Records": records})
	if err != nil {
		panic(err)
	}
	last, err := json.Marshal(records[len(records)-1])
	if err != nil {
		panic(err)
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	gz.Write(whole[:len(whole)-2-len(last)/2])
	gz.Close()
	return buf.Bytes()
}

// Key is where an organisation trail (org "" for an account's own trail)
// delivers a log file of account in region at delivered.
func Key(prefix, org, account, region string, delivered time.Time, unique string) string {
	k := "AWSLogs/"
	if prefix != "" {
		k = prefix + "/" + k
	}
	if org != "" {
		k += org + "/"
	}
	return fmt.Sprintf("%s%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%s.json.gz", k, account, region,
		delivered.UTC().Format("2006/01/02"), account, region, delivered.UTC().Format("20060102T1504Z"), unique)
}
