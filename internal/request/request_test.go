package request

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var testdata = os.DirFS("testdata")

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := fs.ReadFile(testdata, name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// minimal is a valid request; lines: requester 1, account 2, role 3,
// duration 4, reason 5. Appended lines start at 6.
const minimal = "requester: alice\n" +
	"account: prod\n" +
	"role: Admin\n" +
	"duration: 2h\n" +
	"reason: Rotate the TLS certificate\n"

// with returns minimal with the line of key replaced by line, or with line
// appended when key is not in minimal. line "" removes the key.
func with(key, line string) string {
	lines := strings.SplitAfter(minimal, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, key+":") {
			if line == "" {
				lines[i] = ""
			} else {
				lines[i] = line + "\n"
			}
			return strings.Join(lines, "")
		}
	}
	return minimal + line + "\n"
}

var minimalLines = map[string]int{"requester": 1, "account": 2, "role": 3, "duration": 4, "reason": 5}

func linesPlus(extra map[string]int) map[string]int {
	m := map[string]int{}
	for k, v := range minimalLines {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// wantErr is what a test expects of an *Error: its File is always
// "requests/prod/2026-11/x.yaml".
type wantErr struct {
	Line  int
	Field string
	Msg   string // substring of Message
}

const testFile = "requests/prod/2026-11/x.yaml"

func checkErr(t *testing.T, err error, want wantErr) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *Error", err, err)
	}
	got := wantErr{Line: e.Line, Field: e.Field, Msg: want.Msg}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("error %q: mismatch (-want +got):\n%s", e, diff)
	}
	if e.File != testFile {
		t.Errorf("error %q: File = %q, want %q", e, e.File, testFile)
	}
	if !strings.Contains(e.Message, want.Msg) {
		t.Errorf("error %q: Message does not contain %q", e, want.Msg)
	}
}

func TestParseValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data string
		want *Request
	}{
		{
			name: "full",
			data: string(readTestdata(t, "valid_full.yaml")),
			want: &Request{
				Requester: "alice", Account: "prod", Role: "Admin", Duration: 2 * time.Hour,
				Reason:    "Rotate the TLS certificate on the payments load balancer",
				Ticket:    "INC-4821",
				NotBefore: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
				Lines: map[string]int{"requester": 2, "account": 3, "role": 4, "duration": 5, "reason": 6,
					"ticket": 7, "not_before": 8, "emergency": 9},
			},
		},
		{
			name: "minimal",
			data: string(readTestdata(t, "valid_minimal.yaml")),
			want: &Request{
				Requester: "bob", Account: "staging", Role: "ReadOnly", Duration: 30 * time.Minute,
				Reason: "Look at the failing deploy logs", Lines: minimalLines,
			},
		},
		{
			name: "block reason, quoted numbers, zone offset, emergency",
			data: string(readTestdata(t, "valid_block_reason.yaml")),
			want: &Request{
				Requester: "carol-1", Account: "2026", Role: "123", Duration: 90 * time.Minute,
				Reason:    "Incident INC-77: the nightly export job is stuck.\nI need to restart it and check the queue.",
				Ticket:    "4821",
				Emergency: true,
				Lines: map[string]int{"requester": 1, "account": 2, "role": 3, "duration": 4, "reason": 5,
					"ticket": 8, "emergency": 10},
			},
		},
		{
			name: "CRLF line endings and a leading byte order mark",
			data: "\ufeff" + strings.ReplaceAll(minimal, "\n", "\r\n"),
			want: &Request{Requester: "alice", Account: "prod", Role: "Admin", Duration: 2 * time.Hour,
				Reason: "Rotate the TLS certificate", Lines: minimalLines},
		},
		{
			name: "flow mapping",
			data: "{requester: alice, account: prod, role: Admin, duration: 2h, reason: Rotate the TLS certificate}\n",
			want: &Request{Requester: "alice", Account: "prod", Role: "Admin", Duration: 2 * time.Hour,
				Reason: "Rotate the TLS certificate",
				Lines:  map[string]int{"requester": 1, "account": 1, "role": 1, "duration": 1, "reason": 1}},
		},
		{
			name: "quoted strings, explicit !!str, tab after the colon, not_before quoted",
			data: "requester: 'alice'\naccount: \"prod\"\nrole: !!str Admin\nduration:\t2h\nreason: \"  Rotate the TLS certificate  \"\nnot_before: \"2026-11-25T10:00:00.5-01:00\"\nemergency: false\n",
			want: &Request{Requester: "alice", Account: "prod", Role: "Admin", Duration: 2 * time.Hour,
				Reason:    "Rotate the TLS certificate",
				NotBefore: time.Date(2026, 11, 25, 11, 0, 0, 5e8, time.UTC),
				Lines:     linesPlus(map[string]int{"not_before": 6, "emergency": 7})},
		},
		{
			name: "longest login, longest role, reason of exactly 10 and 1000 runes",
			data: with("requester", "requester: "+strings.Repeat("a-", 19)+"b") +
				"ticket: " + strings.Repeat("T", 100) + "\n",
			want: &Request{Requester: strings.Repeat("a-", 19) + "b", Account: "prod", Role: "Admin",
				Duration: 2 * time.Hour, Reason: "Rotate the TLS certificate",
				Ticket: strings.Repeat("T", 100), Lines: linesPlus(map[string]int{"ticket": 6})},
		},
		{
			name: "reason of 10 runes, role of 64, duration 720h",
			data: "requester: a\naccount: a\nrole: " + strings.Repeat("R", 64) + "\nduration: 720h\nreason: '0123456789'\n",
			want: &Request{Requester: "a", Account: "a", Role: strings.Repeat("R", 64), Duration: 720 * time.Hour,
				Reason: "0123456789", Lines: minimalLines},
		},
		{
			name: "reason of 1000 two-byte runes",
			data: with("reason", "reason: "+strings.Repeat("é", 1000)),
			want: &Request{Requester: "alice", Account: "prod", Role: "Admin", Duration: 2 * time.Hour,
				Reason: strings.Repeat("é", 1000), Lines: minimalLines},
		},
		{
			name: "targets",
			data: string(readTestdata(t, "valid_targets.yaml")),
			want: &Request{
				Requester: "alice", Account: "prod", Duration: 2 * time.Hour,
				Targets: []Target{{Account: "prod", Role: "Admin"}, {Account: "payments", PermissionSet: "PaymentsAdmin"}},
				Reason:  "Fail over the payments database during INC-4821", Ticket: "INC-4821",
				Lines: map[string]int{"requester": 1, "targets": 2, "targets[0]": 3, "targets[1]": 4,
					"duration": 6, "reason": 7, "ticket": 8},
			},
		},
		{
			name: "permission set",
			data: with("role", "permission_set: PaymentsAdmin"),
			want: &Request{Requester: "alice", Account: "prod", PermissionSet: "PaymentsAdmin", Duration: 2 * time.Hour,
				Reason: "Rotate the TLS certificate",
				Lines:  map[string]int{"requester": 1, "account": 2, "permission_set": 3, "duration": 4, "reason": 5}},
		},
		{
			name: "explicit document markers",
			data: "---\n" + minimal + "...\n",
			want: &Request{Requester: "alice", Account: "prod", Role: "Admin", Duration: 2 * time.Hour,
				Reason: "Rotate the TLS certificate",
				Lines:  map[string]int{"requester": 2, "account": 3, "role": 4, "duration": 5, "reason": 6}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(testFile, []byte(tt.data))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// targets is a request listing n targets, acct-0:Admin … on lines 5 on.
func targets(n int) string {
	s := "requester: alice\nduration: 2h\nreason: Rotate the TLS certificate\ntargets:\n"
	for i := range n {
		s += fmt.Sprintf("  - {account: acct-%d, role: Admin}\n", i)
	}
	return s
}

// aliasBomb is a billion-laughs document: expanded, it would hold 10^9
// strings; it is under MaxSize.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("requester: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	prev := "a"
	for _, name := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		b.WriteString("x" + name + ": &" + name + " [")
		for i := range 10 {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*" + prev)
		}
		b.WriteString("]\n")
		prev = name
	}
	b.WriteString("reason: *" + prev + "\n")
	return b.String()
}

func garbage(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return b
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data string
		want wantErr
	}{
		// Size and bytes.
		{"10 MiB", minimal + strings.Repeat("# padding\n", 1<<20), wantErr{0, "", "over the 16384-byte limit"}},
		{"one byte over MaxSize", minimal + "#" + strings.Repeat("x", MaxSize-len(minimal)-1) + "\n", wantErr{0, "", "is 16385 bytes"}},
		{"binary garbage", string(garbage(4096)), wantErr{1, "", "control character U+0010"}},
		{"non-UTF-8 byte", "requester: alice\naccount: pr\xffod\n", wantErr{2, "", "not valid UTF-8 (byte 0xff at offset 28)"}},
		{"truncated UTF-8 sequence", minimal + "ticket: caf\xc3", wantErr{6, "", "not valid UTF-8"}},
		{"NUL byte", "requester: alice\naccount: prod\nrole: Ad\x00min\n", wantErr{3, "", "control character U+0000"}},
		{"escape character", "requester: alice\n# \x1b[31m\n", wantErr{2, "", "control character U+001B"}},
		{"DEL", "requester: alice\x7f\n", wantErr{1, "", "control character U+007F"}},
		{"C1 control", "requester: alice\nreason: a\u0085b\n", wantErr{2, "", "control character U+0085"}},
		{"byte order mark inside", "requester: alice\n\ufeffaccount: prod\n", wantErr{2, "", "byte order mark"}},
		{"non-character", "requester: alice\nreason: \uffff\n", wantErr{2, "", "non-character U+FFFF"}},
		{"tab indentation", "requester: alice\n\taccount: prod\n", wantErr{2, "", "tab used for indentation"}},
		{"tab after spaces in indentation", "reason: |\n  first line\n \t second line\n", wantErr{3, "", "tab used for indentation"}},
		{"tab indentation after CRLF", "requester: alice\r\nreason:\r\n\tsomething long enough\r\n", wantErr{3, "", "tab used for indentation"}},
		{"a tab beats a later control character", "\tb: c\n\x01", wantErr{1, "", "tab used"}},

		// Documents and syntax.
		{"empty file", "", wantErr{0, "", "file is empty"}},
		{"only comments", "# nothing here\n\n", wantErr{0, "", "file is empty"}},
		{"empty document", "---\n", wantErr{0, "", "file is empty"}},
		{"two documents", minimal + "---\nrequester: bob\n", wantErr{6, "", "more than one YAML document"}},
		{"empty second document", minimal + "---\n", wantErr{6, "", "more than one YAML document"}},
		{"second document after end marker", minimal + "...\n---\nrequester: bob\n", wantErr{7, "", "more than one YAML document"}},
		{"a second document comes before field errors", with("role", "role: 1") + "---\nrole: 2\n", wantErr{6, "", "more than one YAML document"}},
		{"syntax error in second document", minimal + "---\nrole: [a\n", wantErr{6, "", "invalid YAML"}}, // yaml.v3 reports parser errors one line early (its 0-based context line)
		{"unquoted colon in a value", "requester: alice\nreason: fix: it now\n", wantErr{2, "", `quote a value that contains ": "`}},
		{"unterminated quote", "requester: 'alice\naccount: prod\n", wantErr{3, "", "invalid YAML: found unexpected end of stream"}},
		{"bad indentation", "requester: alice\n  account: prod\n", wantErr{2, "", "invalid YAML"}},
		{"root is a list", "- requester: alice\n", wantErr{1, "", "must be a mapping of key: value, not a list"}},
		{"root is a string", "\n\nhello\n", wantErr{3, "", "must be a mapping of key: value, not a string"}},
		{"root is tagged", "!request\n" + minimal, wantErr{1, "", "not a mapping tagged !request"}},

		// Anchors and aliases.
		{"anchor", with("role", "role: &r Admin"), wantErr{3, "", "anchors (&r) are not allowed"}},
		{"anchor on a key", "requester: alice\n&k account: prod\n", wantErr{2, "", "anchors (&k)"}},
		{"anchor on the root", "&root\n" + minimal, wantErr{1, "", "anchors (&root)"}},
		{"alias after its anchor", with("role", "role: &r Admin") + "ticket: *r\n", wantErr{3, "", "anchors (&r)"}},
		{"alias bomb", aliasBomb(), wantErr{1, "", "YAML anchors (&a) are not allowed"}},
		{"undefined alias", "requester: alice\nrole: *nowhere\n", wantErr{0, "", "unknown anchor"}},
		{"merge key", "requester: alice\n<<: {role: Admin}\n", wantErr{2, "", `key "<<" must be a string, not a merge key`}},

		// Keys.
		{"unknown key", with("role", "rolee: Admin"), wantErr{3, "rolee", "unknown key (allowed: requester, account, role, permission_set, targets, duration, reason, ticket, not_before, emergency)"}},
		{"unknown key comes first", "requester: alice\nfoo: bar\nrole: 1\n", wantErr{2, "foo", "unknown key"}},
		{"unknown odd key", "requester: alice\n? a b\n: c\n", wantErr{2, "", `unknown key "a b" (allowed: requester,`}},
		{"unknown long key is shortened", "requester: alice\n" + strings.Repeat("k", 100) + ": x\n", wantErr{2, "", `unknown key "` + strings.Repeat("k", 40) + `…"`}},
		{"key case matters", "Requester: alice\n", wantErr{1, "Requester", "unknown key"}},
		{"duplicate key", minimal + "role: ReadOnly\n", wantErr{6, "role", "duplicate key (first set on line 3)"}},
		{"duplicate optional key", minimal + "ticket: A-1\nticket: A-2\n", wantErr{7, "ticket", "first set on line 6"}},
		{"quoted key", with("role", `"role": Admin`), wantErr{3, "role", "key must be written plain, without quotes"}},
		{"tagged key", with("role", `!!str role: Admin`), wantErr{3, "role", "key must be written without a tag"}},
		{"mapping as key", "? {a: b}\n: c\n", wantErr{1, "", "keys must be strings, not a mapping"}},
		{"list as key", "[a]: c\n", wantErr{1, "", "not a list"}},
		{"number as key", "1: x\n", wantErr{1, "1", "key must be a string, not a number"}},

		// Required fields.
		{"missing requester", with("requester", ""), wantErr{1, "requester", "required key is missing"}},
		{"missing account", with("account", ""), wantErr{1, "account", "required key is missing"}},
		{"missing role", with("role", ""), wantErr{1, "role", "required key is missing"}},
		{"both role and permission_set", with("role", "role: Admin\npermission_set: PaymentsAdmin"), wantErr{4, "permission_set", "a role or a permission set, not both"}},
		{"both role and targets", minimal + "targets:\n  - {account: prod, role: Admin}\n", wantErr{2, "account", "not both: move account into targets"}},
		{"targets with a top-level permission_set", targets(1) + "permission_set: X\n", wantErr{6, "permission_set", "not both"}},
		{"21 targets", targets(21), wantErr{4, "targets", "lists 21 targets; at most 20"}},
		{"no target", "requester: alice\nduration: 2h\nreason: Rotate the TLS certificate\ntargets: []\n", wantErr{4, "targets", "lists no target"}},
		{"a duplicate target", targets(2) + "  - {account: acct-0, role: Admin}\n", wantErr{7, "targets[2]", "acct-0:Admin is listed twice (first as targets[0])"}},
		{"a target without its role", targets(1) + "  - {account: prod}\n", wantErr{6, "targets[1].role", "required key is missing"}},
		{"a target with both", targets(1) + "  - {account: prod, role: A, permission_set: B}\n", wantErr{6, "targets[1].permission_set", "not both"}},
		{"a target with an unknown key", targets(1) + "  - {account: prod, role: A, duration: 1h}\n", wantErr{6, "targets[1].duration", "unknown key"}},
		{"a target's bad account", targets(1) + "  - {account: Prod, role: A}\n", wantErr{6, "targets[1].account", "not an account name"}},
		{"a permission set ARN", with("role", "permission_set: arn:aws:sso:::permissionSet/ssoins-1/ps-1"), wantErr{3, "permission_set", "not an ARN"}},
		{"targets not a list", "requester: alice\ntargets: prod\nduration: 2h\nreason: Rotate the TLS certificate\n", wantErr{2, "targets", "must be a list"}},
		{"missing duration", with("duration", ""), wantErr{1, "duration", "required key is missing"}},
		{"missing reason", with("reason", ""), wantErr{1, "reason", "required key is missing"}},
		{"missing several: the first in key order", "reason: Rotate the TLS certificate\nrole: Admin\n", wantErr{1, "requester", "required key is missing"}},

		// Wrong types.
		{"requester number", with("requester", "requester: 123"), wantErr{1, "requester", `must be a string, not a number; quote it: "123"`}},
		{"account number", with("account", "account: 2026"), wantErr{2, "account", "must be a string, not a number"}},
		{"role number", with("role", "role: 123"), wantErr{3, "role", "must be a string, not a number"}},
		{"role boolean", with("role", "role: true"), wantErr{3, "role", "must be a string, not a boolean"}},
		{"role custom tag", with("role", "role: !admin Admin"), wantErr{3, "role", "not a value tagged !admin"}},
		{"role binary", with("role", "role: !!binary QWRtaW4="), wantErr{3, "role", "not binary data"}},
		{"duration number", with("duration", "duration: 7200"), wantErr{4, "duration", `"7200" has no unit`}},
		{"duration float", with("duration", "duration: 1.5"), wantErr{4, "duration", "has no unit"}},
		{"duration boolean", with("duration", "duration: false"), wantErr{4, "duration", "not a boolean"}},
		{"reason timestamp", with("reason", "reason: 2026-11-25"), wantErr{5, "reason", "not a timestamp"}},
		{"reason number", with("reason", "reason: 12345678901"), wantErr{5, "reason", "not a number"}},
		{"ticket number", minimal + "ticket: 4821", wantErr{6, "ticket", `must be a string, not a number; quote it: "4821"`}},
		{"not_before number", minimal + "not_before: 20261125", wantErr{6, "not_before", "not a number"}},
		{"not_before boolean", minimal + "not_before: true", wantErr{6, "not_before", "not a boolean"}},
		{"emergency with not_before", minimal + "not_before: 2026-11-25T10:00:00Z\nemergency: true", wantErr{6, "not_before", "an emergency request opens when it is merged and cannot carry not_before"}},
		{"emergency string", minimal + "emergency: \"true\"", wantErr{6, "emergency", "must be true or false, not a string"}},
		{"emergency yes", minimal + "emergency: yes", wantErr{6, "emergency", "must be true or false, not a string"}},
		{"emergency number", minimal + "emergency: 1", wantErr{6, "emergency", "not a number"}},
		{"emergency True", minimal + "emergency: True", wantErr{6, "emergency", `must be true or false, not "True"`}},
		{"emergency tagged yes", minimal + "emergency: !!bool yes", wantErr{6, "emergency", `not "yes"`}},

		// Null, mapping and list values.
		{"null ticket", minimal + "ticket:", wantErr{6, "ticket", "has no value"}},
		{"null requester", with("requester", "requester: ~"), wantErr{1, "requester", "has no value"}},
		{"null emergency", minimal + "emergency: null", wantErr{6, "emergency", "has no value"}},
		{"null not_before", minimal + "not_before:", wantErr{6, "not_before", "has no value"}},
		{"nested mapping", with("role", "role:\n  name: Admin"), wantErr{3, "role", "must be a string, not a mapping"}},
		{"anchor in a nested mapping", with("role", "role:\n  name: &n Admin"), wantErr{4, "", "anchors (&n)"}},
		{"list", with("role", "role: [Admin, ReadOnly]"), wantErr{3, "role", "not a list"}},
		{"block list", minimal + "emergency:\n  - true", wantErr{6, "emergency", "not a list"}},
		{"mapping not_before", minimal + "not_before: {at: now}", wantErr{6, "not_before", "not a mapping"}},

		// Formats.
		{"login with leading hyphen", with("requester", "requester: -alice"), wantErr{1, "requester", `"-alice" is not a GitHub login`}},
		{"login with trailing hyphen", with("requester", "requester: alice-"), wantErr{1, "requester", "not a GitHub login"}},
		{"login with double hyphen", with("requester", "requester: al--ice"), wantErr{1, "requester", "not a GitHub login"}},
		{"login too long", with("requester", "requester: "+strings.Repeat("a", 40)), wantErr{1, "requester", "not a GitHub login"}},
		{"login with @", with("requester", "requester: '@alice'"), wantErr{1, "requester", "without the @"}},
		{"login with underscore", with("requester", "requester: alice_b"), wantErr{1, "requester", "not a GitHub login"}},
		{"login empty", with("requester", "requester: ''"), wantErr{1, "requester", `"" is not a GitHub login`}},
		{"account uppercase", with("account", "account: Prod"), wantErr{2, "account", `"Prod" is not an account name`}},
		{"account leading hyphen", with("account", "account: -prod"), wantErr{2, "account", "not an account name"}},
		{"account too long", with("account", "account: "+strings.Repeat("a", 64)), wantErr{2, "account", "not an account name"}},
		{"account path", with("account", "account: ../prod"), wantErr{2, "account", "not an account name"}},
		{"role ARN", with("role", "role: arn:aws:iam::111111111111:role/Admin"), wantErr{3, "role", `must be a role name, not an ARN: write "Admin"`}},
		{"role ARN with path", with("role", "role: arn:aws:iam::111111111111:role/ops/Admin"), wantErr{3, "role", `write "Admin"`}},
		{"role user ARN", with("role", "role: arn:aws:iam::111111111111:user/alice"), wantErr{3, "role", "must be a role name, not an ARN"}},
		{"role with space", with("role", "role: Power User"), wantErr{3, "role", `"Power User" is not an IAM role name`}},
		{"role too long", with("role", "role: "+strings.Repeat("R", 65)), wantErr{3, "role", "not an IAM role name"}},
		{"duration 2x", with("duration", "duration: 2x"), wantErr{4, "duration", `"2x" is not a duration`}},
		{"duration empty", with("duration", "duration: ''"), wantErr{4, "duration", "is not a duration"}},
		{"duration -1h", with("duration", "duration: -1h"), wantErr{4, "duration", `"-1h" is out of range: must be positive`}},
		{"duration 0s", with("duration", "duration: 0s"), wantErr{4, "duration", "must be positive"}},
		{"duration 721h", with("duration", "duration: 721h"), wantErr{4, "duration", "out of range: at most 720h0m0s"}},
		{"duration overflow", with("duration", "duration: 9999999999h"), wantErr{4, "duration", "not a duration"}},
		{"reason too short", with("reason", "reason: fix it"), wantErr{5, "reason", "is 6 characters; write at least 10"}},
		{"reason short after trimming", with("reason", "reason: '   fix it     '"), wantErr{5, "reason", "is 6 characters"}},
		{"reason blank", with("reason", "reason: ''"), wantErr{5, "reason", "is 0 characters"}},
		{"reason too long", with("reason", "reason: "+strings.Repeat("x", 1001)), wantErr{5, "reason", "is 1001 characters; at most 1000"}},
		{"reason too long in runes", with("reason", "reason: "+strings.Repeat("é", 1001)), wantErr{5, "reason", "is 1001 characters"}},
		{"reason with escaped control character", with("reason", `reason: "Rotate the \a certificate"`), wantErr{5, "reason", "control characters (found U+0007)"}},
		{"reason with a right-to-left override", with("reason", "reason: Rotate the \u202Etrec SLT\u202C on the balancer"), wantErr{5, "reason", "bidirectional formatting characters (found U+202E)"}},
		{"reason with a left-to-right isolate", with("reason", "reason: Rotate the \u2066certificate\u2069 on the balancer"), wantErr{5, "reason", "bidirectional formatting characters (found U+2066)"}},
		{"reason with a tab", with("reason", `reason: "Rotate the\tcertificate"`), wantErr{5, "reason", "found U+0009"}},
		{"reason with a line separator", with("reason", `reason: "Rotate the\Lcertificate"`), wantErr{5, "reason", "found U+2028"}},
		{"ticket empty", minimal + "ticket: ''", wantErr{6, "ticket", "is empty; remove the line"}},
		{"ticket whitespace only", minimal + "ticket: '   '", wantErr{6, "ticket", "is empty"}},
		{"ticket too long", minimal + "ticket: " + strings.Repeat("T", 101), wantErr{6, "ticket", "is 101 characters"}},
		{"ticket with newline", minimal + `ticket: "INC-1\nINC-2"`, wantErr{6, "ticket", "printable text on one line (found U+000A)"}},
		{"ticket with leading space", minimal + `ticket: " INC-1"`, wantErr{6, "ticket", "must not start or end with spaces"}},
		{"not_before without zone", minimal + "not_before: 2026-11-25T10:00:00", wantErr{6, "not_before", "has no time zone"}},
		{"not_before space separated without zone", minimal + "not_before: 2026-11-25 10:00:00", wantErr{6, "not_before", "has no time zone"}},
		{"not_before date only", minimal + "not_before: 2026-11-25", wantErr{6, "not_before", "is not an RFC 3339 time"}},
		{"not_before words", minimal + "not_before: tomorrow", wantErr{6, "not_before", `"tomorrow" is not an RFC 3339 time`}},
		{"not_before before year 1 in UTC", minimal + "not_before: 0000-01-01T00:00:00+01:00", wantErr{6, "not_before", "out of range"}},
		{"not_before bad offset", minimal + "not_before: 2026-11-25T10:00:00+25:00", wantErr{6, "not_before", "not an RFC 3339 time"}},

		// Order: keys first, then the values in canonical key order.
		{"first field error wins", strings.Replace(with("requester", "requester: -x"), "account: prod", "account: Prod", 1), wantErr{1, "requester", "not a GitHub login"}},
		{"unknown key before a field error", "role: 1\nfoo: bar\n", wantErr{2, "foo", "unknown key"}},
		{"values in canonical key order", "role: 1\nrequester: -x\naccount: prod\nduration: 2h\nreason: Rotate the TLS certificate\n", wantErr{2, "requester", "not a GitHub login"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(testFile, []byte(tt.data))
			if err == nil {
				t.Fatalf("Parse = %+v, want an error", got)
			}
			if got != nil {
				t.Errorf("Parse returned %+v with its error", got)
			}
			checkErr(t, err, tt.want)
		})
	}
}

func TestWindow(t *testing.T) {
	t.Parallel()
	merged := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		notBefore time.Time
		duration  time.Duration
		start     time.Time
		end       time.Time
	}{
		{"no not_before", time.Time{}, 2 * time.Hour, merged, merged.Add(2 * time.Hour)},
		{"not_before in the past", merged.Add(-24 * time.Hour), time.Hour, merged, merged.Add(time.Hour)},
		{"not_before equal to merge", merged, time.Hour, merged, merged.Add(time.Hour)},
		{"not_before in the future", merged.Add(3 * time.Hour), 30 * time.Minute, merged.Add(3 * time.Hour), merged.Add(3*time.Hour + 30*time.Minute)},
		{"not_before in another zone", time.Date(2026, 11, 25, 12, 0, 0, 0, time.FixedZone("CET", 3600)), time.Hour,
			time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC), time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := &Request{NotBefore: tt.notBefore, Duration: tt.duration}
			start, end := r.Window(merged)
			if !start.Equal(tt.start) || !end.Equal(tt.end) {
				t.Errorf("Window(%v) = %v, %v; want %v, %v", merged, start, end, tt.start, tt.end)
			}
		})
	}
}

func TestMarshalCanonical(t *testing.T) {
	t.Parallel()
	r, err := Parse(testFile, readTestdata(t, "valid_full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := `requester: alice
account: prod
role: Admin
duration: 2h
reason: Rotate the TLS certificate on the payments load balancer
ticket: INC-4821
not_before: 2026-11-25T10:00:00Z
`
	if diff := cmp.Diff(want, string(Marshal(r))); diff != "" {
		t.Errorf("Marshal mismatch (-want +got):\n%s", diff)
	}
}

// TestMarshalRoundTrip is the property Parse(Marshal(r)) == r over values
// chosen to stress YAML quoting.
func TestMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	base := Request{Requester: "alice", Account: "prod", Role: "Admin", Duration: 2 * time.Hour,
		Reason: "Rotate the TLS certificate"}
	tests := []struct {
		name   string
		change func(r *Request)
	}{
		{"minimal", func(*Request) {}},
		{"all fields", func(r *Request) {
			r.Ticket = "INC-4821"
			r.NotBefore = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
		}},
		{"emergency", func(r *Request) { r.Ticket, r.Emergency = "INC-4821", true }},
		{"numbers that must stay strings", func(r *Request) {
			r.Account, r.Role, r.Ticket, r.Reason = "2026", "123", "4821", "12345678901"
		}},
		{"words YAML would read as other types", func(r *Request) {
			r.Requester, r.Role, r.Ticket, r.Reason = "true", "null", "yes", "2026-11-25T10:00:00Z"
		}},
		{"multi-line reason", func(r *Request) { r.Reason = "First line\n\n  indented: second line # not a comment\nlast" }},
		{"reason with trailing spaces inside", func(r *Request) { r.Reason = "First line   \nsecond line" }},
		{"YAML syntax in reason", func(r *Request) { r.Reason = `- [a, {b: c}] & *x !tag "quoted" 'single' | > % @ ` + "`" }},
		{"reason with unicode", func(r *Request) { r.Reason = "Zurück zum Frühstück 🚀 \u00a0 nbsp \ufeff bom" }},
		{"ticket with spaces", func(r *Request) { r.Ticket = "JIRA OPS-1 #2" }},
		{"odd durations", func(r *Request) { r.Duration = 90*time.Minute + 5*time.Second }},
		{"sub-second duration", func(r *Request) { r.Duration = 1500 * time.Millisecond }},
		{"nanosecond not_before", func(r *Request) { r.NotBefore = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC) }},
		{"role with every allowed symbol", func(r *Request) { r.Role = "a+b=c,d.e@f_g-h" }},
		{"permission set", func(r *Request) { r.Role, r.PermissionSet = "", "PaymentsAdmin" }},
		{"targets", func(r *Request) {
			r.Role = ""
			r.Targets = []Target{{Account: "prod", Role: "Admin"}, {Account: "2026", PermissionSet: "true"}, {Account: "prod", PermissionSet: "Admin"}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := base
			tt.change(&want)
			data := Marshal(&want)
			got, err := Parse(testFile, data)
			if err != nil {
				t.Fatalf("Parse(Marshal(r)): %v\n%s", err, data)
			}
			if diff := cmp.Diff(&want, got, cmpopts.IgnoreFields(Request{}, "Lines")); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s\n%s", diff, data)
			}
			if again := Marshal(got); !bytes.Equal(again, data) {
				t.Errorf("Marshal is not stable:\n%s\n---\n%s", data, again)
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	data := readTestdata(b, "valid_full.yaml")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(testFile, data); err != nil {
			b.Fatal(err)
		}
	}
}
