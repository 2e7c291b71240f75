package activity

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Summary is what a grant's sessions did, as CloudTrail recorded it. Every
// string in it was read from a log file: whoever shows it escapes it.
// Lists are bounded (the most frequent or the earliest first); the counts
// are whole.
type Summary struct {
	Request string   `json:"request"`
	Targets []Target `json:"targets"`
	// Start and End are the window the events were kept in.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Revoked is when the grant was revoked, if it was: its sessions' calls
	// after it are kept (refusals, or a Deny that did not hold).
	Revoked *time.Time `json:"revoked,omitempty"`
	// ReadAt is when the log files were read; Files how many.
	ReadAt time.Time `json:"read_at"`
	Files  int       `json:"files"`
	// Read numbers the broker's reads of the grant's trail (1 first);
	// Final is set on the last, a day after the window's end: an earlier
	// state put back in the comment shows as not final.
	Read  int  `json:"read,omitempty"`
	Final bool `json:"final,omitempty"`
	// Sessions counts the grant's sessions that made a call; Calls every
	// call they made (console sign-ins included).
	Sessions     int        `json:"sessions"`
	Calls        int        `json:"calls"`
	First        *time.Time `json:"first,omitempty"`
	Last         *time.Time `json:"last,omitempty"`
	Regions      []string   `json:"regions,omitempty"`
	Errors       int        `json:"errors"`
	AccessDenied int        `json:"access_denied"`
	// Actions are the calls by service:action, most first.
	Actions []ActionCount `json:"actions,omitempty"`
	// Failures are the errors by action and code, access denied first.
	Failures []Failure `json:"failures,omitempty"`
	// Written are the resources that successful writes named.
	Written []Resource `json:"written,omitempty"`
	// SignIns are the console sign-ins, earliest first; SignInCount
	// counts all of them.
	SignIns     []Event `json:"console_sign_ins,omitempty"`
	SignInCount int     `json:"console_sign_in_count"`
	// Sensitive are the calls that matched the sensitive actions, earliest
	// first; SensitiveCalls counts all of them.
	Sensitive      []Event `json:"sensitive,omitempty"`
	SensitiveCalls int     `json:"sensitive_calls"`
	// Timeline is the calls per hour.
	Timeline []Hour `json:"timeline,omitempty"`
	// Problems are what could not be read (a file, a listing, the bucket):
	// the summary holds everything else.
	Problems []string `json:"problems,omitempty"`
}

// Target is one role of the grant, in its account.
type Target struct {
	AccountID string `json:"account_id"`
	Role      string `json:"role"`
}

// ActionCount is one action's calls.
type ActionCount struct {
	Action string `json:"action"`
	Calls  int    `json:"calls"`
	Errors int    `json:"errors,omitempty"`
}

// Failure is one action's errors of one code.
type Failure struct {
	Action       string `json:"action"`
	Code         string `json:"code"`
	Count        int    `json:"count"`
	AccessDenied bool   `json:"access_denied,omitempty"`
}

// Resource is one resource written, and how many calls wrote it.
type Resource struct {
	ARN   string `json:"arn"`
	Type  string `json:"type,omitempty"`
	Calls int    `json:"calls"`
}

// Event is one call worth listing on its own.
type Event struct {
	At      time.Time `json:"at"`
	Action  string    `json:"action"`
	Region  string    `json:"region,omitempty"`
	Account string    `json:"account_id,omitempty"`
	Error   string    `json:"error,omitempty"`  // the error code, if it failed
	Result  string    `json:"result,omitempty"` // a sign-in's outcome
}

// Hour is the calls of one hour (UTC).
type Hour struct {
	At     time.Time `json:"at"`
	Calls  int       `json:"calls"`
	Errors int       `json:"errors,omitempty"`
}

// Shorten drops the last row of the longest list, for a summary that must
// fit in a comment; false when every list is empty.
func (s *Summary) Shorten() bool {
	lens := []int{len(s.Actions), len(s.Failures), len(s.Written), len(s.SignIns), len(s.Sensitive), len(s.Timeline), len(s.Problems)}
	longest := 0
	for i, n := range lens {
		if n > lens[longest] {
			longest = i
		}
	}
	if lens[longest] == 0 {
		return false
	}
	switch longest {
	case 0:
		s.Actions = s.Actions[:len(s.Actions)-1]
	case 1:
		s.Failures = s.Failures[:len(s.Failures)-1]
	case 2:
		s.Written = s.Written[:len(s.Written)-1]
	case 3:
		s.SignIns = s.SignIns[:len(s.SignIns)-1]
	case 4:
		s.Sensitive = s.Sensitive[:len(s.Sensitive)-1]
	case 5:
		s.Timeline = s.Timeline[:len(s.Timeline)-1]
	case 6:
		s.Problems = s.Problems[:len(s.Problems)-1]
	}
	return true
}

// Used reports whether any session of the grant made a call.
func (s *Summary) Used() bool { return s.Calls > 0 }

// Bounds of a summary's lists, and of every value taken from a log file.
const (
	maxActions   = 40
	maxFailures  = 15
	maxWritten   = 15
	maxSignIns   = 10
	maxSensitive = 20
	maxHours     = 24 * 7
	maxRegions   = 40
	maxProblems  = 10
	maxValue     = 160 // bytes of one value read from a log file
	// An aggregate keeps more than it shows, so that partial ones merge
	// into the same answer however files are split among readers.
	keepDistinct = 2000
)

// DefaultSensitive are the actions a summary calls out when eligibility.yaml
// lists none: IAM writes, deletes, security-group and KMS changes.
var DefaultSensitive = []string{
	"iam:Add*", "iam:Attach*", "iam:Change*", "iam:Create*", "iam:Deactivate*", "iam:Delete*", "iam:Detach*",
	"iam:Enable*", "iam:Put*", "iam:Remove*", "iam:Reset*", "iam:Set*", "iam:Tag*", "iam:Untag*", "iam:Update*", "iam:Upload*",
	"*:Delete*",
	"ec2:AuthorizeSecurityGroup*", "ec2:RevokeSecurityGroup*", "ec2:CreateSecurityGroup", "ec2:ModifySecurityGroupRules",
	"ec2:UpdateSecurityGroupRuleDescriptions*",
	"kms:Cancel*", "kms:Create*", "kms:Disable*", "kms:Enable*", "kms:Import*", "kms:Put*", "kms:Replicate*",
	"kms:Retire*", "kms:Revoke*", "kms:Schedule*", "kms:Tag*", "kms:Untag*", "kms:Update*",
	// Leaving the grant's role, and blinding the trail or opening a bucket.
	"sts:AssumeRole*", "cloudtrail:StopLogging", "cloudtrail:UpdateTrail", "cloudtrail:PutEventSelectors",
	"s3:PutBucketPolicy", "s3:PutBucketAcl",
}

// wildcard reports whether s matches p, whose only wildcard is *: an IAM
// action pattern against service:Name, both in lower case.
func wildcard(p, s string) bool {
	star, next := -1, 0
	i, j := 0, 0
	for j < len(s) {
		switch {
		case i < len(p) && p[i] == '*':
			star, next = i, j
			i++
		case i < len(p) && p[i] == s[j]:
			i++
			j++
		case star >= 0:
			next++
			i, j = star+1, next
		default:
			return false
		}
	}
	for i < len(p) && p[i] == '*' {
		i++
	}
	return i == len(p)
}

// isAccessDenied reports whether an error code is a refusal of access,
// which services spell in several ways.
func isAccessDenied(code string) bool {
	c := strings.ToLower(code)
	return strings.Contains(c, "accessdenied") || strings.Contains(c, "unauthorized") || c == "forbidden"
}

// isWrite reports whether r changed something: CloudTrail's readOnly, or
// where a service leaves it out, a name that is not a read's.
func (r *record) isWrite() bool {
	if r.ReadOnly != nil {
		return !*r.ReadOnly
	}
	for _, read := range []string{"Get", "List", "Describe", "Head", "Lookup", "Search", "BatchGet", "Select", "Query", "Scan"} {
		if strings.HasPrefix(r.EventName, read) {
			return false
		}
	}
	return true
}

// value bounds a string read from a log file and drops its control
// characters; escaping for where it is shown is the shower's.
func value(s string) string { return bounded(s, maxValue) }

// bounded is s without control characters, cut to n bytes.
func bounded(s string, n int) string {
	if !plainASCII(s) {
		s = printable(s)
	}
	// An access key id is never shown, wherever a log put one.
	if strings.Contains(s, "KIA") || strings.Contains(s, "SIA") {
		s = accessKeyRE.ReplaceAllString(s, "${1}…")
	}
	if len(s) > n {
		cut := n
		for cut > 0 && (s[cut]&0xc0) == 0x80 {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// plainASCII reports whether s is printable ASCII alone, as nearly every
// value of a log file is: nothing to strip.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// printable is s as valid UTF-8 without the characters that would hide or
// reorder what a person reads.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		// Line breaks, escape sequences, bidi controls and invisible
		// format characters would let a value reorder, hide or forge what
		// a person reads.
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.In(r, unicode.Bidi_Control, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

// accessKeyRE matches access key ids (AKIA…, ASIA…): a value keeps their
// first four letters only.
var accessKeyRE = regexp.MustCompile(`\b(A[KS]IA)[A-Z0-9]{12,}\b`)

// agg adds up the calls of one set of sessions. Aggregates merge: every
// count adds, and each bounded list keeps the same entries whichever
// aggregate saw them first.
type agg struct {
	calls, errors, denied, sensitiveCalls, signInCount int
	first, last                                        time.Time
	regions                                            map[string]bool
	actions                                            map[string]*ActionCount
	failures                                           map[[2]string]int
	written                                            map[string]*Resource
	signIns, sensitive                                 []Event
	hours                                              map[time.Time]*Hour
}

func newAgg() *agg {
	return &agg{regions: map[string]bool{}, actions: map[string]*ActionCount{}, failures: map[[2]string]int{},
		written: map[string]*Resource{}, hours: map[time.Time]*Hour{}}
}

// add counts one call of the grant's sessions; sensitive are the
// patterns in lower case.
func (a *agg) add(r *record, at time.Time, sensitive []string) {
	a.calls++
	if a.first.IsZero() || at.Before(a.first) {
		a.first = at
	}
	if at.After(a.last) {
		a.last = at
	}
	region := value(r.AWSRegion)
	if len(a.regions) < keepDistinct {
		a.regions[region] = true
	}
	action := value(r.action())
	code := value(r.ErrorCode)
	ac := a.actions[action]
	if ac == nil && len(a.actions) < keepDistinct {
		ac = &ActionCount{Action: action}
		a.actions[action] = ac
	}
	if ac != nil {
		ac.Calls++
	}
	h := a.hours[at.Truncate(time.Hour)]
	if h == nil && len(a.hours) < keepDistinct {
		h = &Hour{At: at.Truncate(time.Hour)}
		a.hours[h.At] = h
	}
	if h != nil {
		h.Calls++
	}
	if code != "" {
		a.errors++
		if ac != nil {
			ac.Errors++
		}
		if h != nil {
			h.Errors++
		}
		if isAccessDenied(code) {
			a.denied++
		}
		k := [2]string{action, code}
		if _, ok := a.failures[k]; ok || len(a.failures) < keepDistinct {
			a.failures[k]++
		}
	}
	ev := Event{At: at, Action: action, Region: region, Account: value(r.UserIdentity.AccountID), Error: code}
	if r.isConsoleLogin() {
		ev.Result = value(r.consoleResult())
		a.signInCount++
		a.signIns = keepFirst(append(a.signIns, ev), maxSignIns, byTime)
	}
	lower := strings.ToLower(r.action())
	for _, p := range sensitive {
		if wildcard(p, lower) {
			a.sensitiveCalls++
			a.sensitive = keepFirst(append(a.sensitive, ev), maxSensitive, successFirst)
			break
		}
	}
	if code == "" && r.isWrite() {
		for _, res := range r.Resources {
			arn := value(res.ARN)
			if arn == "" {
				continue
			}
			w := a.written[arn]
			if w == nil && len(a.written) < keepDistinct {
				w = &Resource{ARN: arn, Type: value(res.Type)}
				a.written[arn] = w
			}
			if w != nil {
				w.Calls++
			}
		}
	}
}

// keepFirst bounds list to its n first events in order, letting it grow
// to 2n between sorts.
func keepFirst(list []Event, n int, order func(a, b Event) int) []Event {
	if len(list) <= 2*n {
		return list
	}
	slices.SortFunc(list, order)
	return slices.Clip(list[:n])
}

// byTime orders events by time, then by every field, so that a bounded
// list keeps the same events however the files were split among readers.
func byTime(a, b Event) int {
	return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.Action, b.Action), cmp.Compare(a.Region, b.Region),
		cmp.Compare(a.Account, b.Account), cmp.Compare(a.Error, b.Error), cmp.Compare(a.Result, b.Result))
}

// successFirst orders sensitive calls that succeeded before those refused,
// each by time: refusals cannot push a change off the list.
func successFirst(a, b Event) int {
	if (a.Error == "") != (b.Error == "") {
		if a.Error == "" {
			return -1
		}
		return 1
	}
	return byTime(a, b)
}

// size is how many entries a holds: what it costs in memory.
func (a *agg) size() int {
	return len(a.regions) + len(a.actions) + len(a.failures) + len(a.written) + len(a.hours) + len(a.signIns) + len(a.sensitive)
}

// merge adds b into a.
func (a *agg) merge(b *agg) {
	if b == nil || b.calls == 0 {
		return
	}
	a.calls += b.calls
	a.errors += b.errors
	a.denied += b.denied
	a.sensitiveCalls += b.sensitiveCalls
	a.signInCount += b.signInCount
	if a.first.IsZero() || b.first.Before(a.first) {
		a.first = b.first
	}
	if b.last.After(a.last) {
		a.last = b.last
	}
	for r := range b.regions {
		if len(a.regions) < keepDistinct {
			a.regions[r] = true
		}
	}
	for k, v := range b.actions {
		if x := a.actions[k]; x != nil {
			x.Calls += v.Calls
			x.Errors += v.Errors
		} else if len(a.actions) < keepDistinct {
			c := *v
			a.actions[k] = &c
		}
	}
	for k, n := range b.failures {
		if _, ok := a.failures[k]; ok || len(a.failures) < keepDistinct {
			a.failures[k] += n
		}
	}
	for k, v := range b.written {
		if x := a.written[k]; x != nil {
			x.Calls += v.Calls
		} else if len(a.written) < keepDistinct {
			c := *v
			a.written[k] = &c
		}
	}
	for k, v := range b.hours {
		if x := a.hours[k]; x != nil {
			x.Calls += v.Calls
			x.Errors += v.Errors
		} else if len(a.hours) < keepDistinct {
			c := *v
			a.hours[k] = &c
		}
	}
	a.signIns = keepFirst(append(a.signIns, b.signIns...), maxSignIns, byTime)
	a.sensitive = keepFirst(append(a.sensitive, b.sensitive...), maxSensitive, successFirst)
}

// fill writes a's figures into s, each list sorted and cut to its bound.
func (a *agg) fill(s *Summary) {
	s.Calls, s.Errors, s.AccessDenied, s.SensitiveCalls, s.SignInCount = a.calls, a.errors, a.denied, a.sensitiveCalls, a.signInCount
	if a.calls > 0 {
		first, last := a.first, a.last
		s.First, s.Last = &first, &last
	}
	for r := range a.regions {
		s.Regions = append(s.Regions, r)
	}
	slices.Sort(s.Regions)
	s.Regions = cut(s.Regions, maxRegions)
	for _, v := range a.actions {
		s.Actions = append(s.Actions, *v)
	}
	slices.SortFunc(s.Actions, func(x, y ActionCount) int {
		return cmp.Or(cmp.Compare(y.Calls, x.Calls), cmp.Compare(x.Action, y.Action))
	})
	s.Actions = cut(s.Actions, maxActions)
	for k, n := range a.failures {
		s.Failures = append(s.Failures, Failure{Action: k[0], Code: k[1], Count: n, AccessDenied: isAccessDenied(k[1])})
	}
	slices.SortFunc(s.Failures, func(x, y Failure) int {
		if x.AccessDenied != y.AccessDenied {
			if x.AccessDenied {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(y.Count, x.Count), cmp.Compare(x.Action, y.Action), cmp.Compare(x.Code, y.Code))
	})
	s.Failures = cut(s.Failures, maxFailures)
	for _, v := range a.written {
		s.Written = append(s.Written, *v)
	}
	slices.SortFunc(s.Written, func(x, y Resource) int {
		return cmp.Or(cmp.Compare(y.Calls, x.Calls), cmp.Compare(x.ARN, y.ARN))
	})
	s.Written = cut(s.Written, maxWritten)
	s.SignIns = first(a.signIns, maxSignIns, byTime)
	s.Sensitive = first(a.sensitive, maxSensitive, successFirst)
	for _, h := range a.hours {
		s.Timeline = append(s.Timeline, *h)
	}
	slices.SortFunc(s.Timeline, func(x, y Hour) int { return x.At.Compare(y.At) })
	s.Timeline = cut(s.Timeline, maxHours)
}

func first(list []Event, n int, order func(a, b Event) int) []Event {
	out := slices.Clone(list)
	slices.SortFunc(out, order)
	return cut(out, n)
}

func cut[T any](list []T, n int) []T {
	if len(list) > n {
		return list[:n]
	}
	return list
}
