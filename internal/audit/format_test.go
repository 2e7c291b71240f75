package audit_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/elevate-gitops/elevate/internal/audit"
)

// offlineReport builds the offline report of the last 720h.
func offlineReport(t *testing.T) (*history, *audit.Report) {
	t.Helper()
	h := newHistory(t)
	rep, err := audit.Build(context.Background(), audit.Options{Dir: h.dir, Since: 720 * hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return h, rep
}

func TestCSV(t *testing.T) {
	t.Parallel()
	h, rep := offlineReport(t)
	var buf bytes.Buffer
	if err := rep.CSV(&buf); err != nil {
		t.Fatal(err)
	}
	header, _, _ := strings.Cut(buf.String(), "\n")
	const wantHeader = "id,path,state,requester,account,role,duration,start,end,merged_at,commit,pr,approvers," +
		"emergency,emergency_unreviewed,ticket,reason,revoked_at,revoked_commit,invalid," +
		"first_used,first_used_by,sessions,sessions_ended_before,extends," +
		"activity_calls,activity_errors,activity_access_denied,activity_sensitive,activity_console_sign_ins,activity_first,activity_last"
	if header != wantHeader {
		t.Errorf("header:\n got %s\nwant %s", header, wantHeader)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+len(rep.Entries) {
		t.Fatalf("%d rows, want a header and %d entries", len(rows), len(rep.Entries))
	}
	noActivity := make([]string, 7) // offline, no activity comment is read
	tests := []struct {
		name string
		row  int
		want []string
	}{
		{"active", 1, append([]string{"prod/2026-11/alice-admin-inc4821", pathActive, "active", "alice", "prod", "Admin", "2h",
			"2026-11-25T11:00:00Z", "2026-11-25T13:00:00Z", "2026-11-25T11:00:00Z", h.sha["active"], "", "", "false", "false",
			"INC-4821", "Rotate <b>certs</b> & keys on the payments load balancer", "", "", "", "", "", "", "", ""}, noActivity...)},
		// A reason a spreadsheet would run as a formula is defused.
		{"revoked", 3, append([]string{"prod/2026-11/bob-admin", pathBobAdmin, "revoked", "bob", "prod", "Admin", "4h",
			"2026-11-25T09:00:00Z", "2026-11-25T13:00:00Z", "2026-11-25T09:00:00Z", h.sha["bob-admin"], "", "", "false", "false",
			"", "'=cmd|' /C calc'!A0 rotate the signing keys", "2026-11-25T10:00:00Z", h.sha["bob-admin-rm"], "", "", "", "", "", ""}, noActivity...)},
		{"emergency", 5, append([]string{"prod/2026-11/dave-admin-inc10", pathDaveEm, "expired", "dave", "prod", "Admin", "30m",
			"2026-11-22T12:00:00Z", "2026-11-22T12:30:00Z", "2026-11-22T12:00:00Z", h.sha["dave-em"], "", "", "true", "true",
			"INC-10", "Disk full on the primary, extend the volume", "", "", "", "", "", "", "", ""}, noActivity...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, rows[tt.row]); diff != "" {
				t.Errorf("row %d (-want +got):\n%s", tt.row, diff)
			}
		})
	}
}

func TestJSON(t *testing.T) {
	t.Parallel()
	h, rep := offlineReport(t)
	var buf bytes.Buffer
	if err := rep.JSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Generated string           `json:"generated"`
		Since     string           `json:"since"`
		Branch    string           `json:"branch"`
		Head      string           `json:"head"`
		Offline   bool             `json:"offline"`
		Entries   []map[string]any `json:"entries"`
		Totals    []map[string]any `json:"totals"`
	}
	dec := json.NewDecoder(&buf)
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.Since != "2026-10-26T12:00:00Z" || doc.Branch != "main" || doc.Head != h.sha["active"] || !doc.Offline {
		t.Errorf("report fields: since %q branch %q head %q offline %v", doc.Since, doc.Branch, doc.Head, doc.Offline)
	}
	snake := regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)
	tests := []struct {
		name  string
		entry int
		keys  []string
		some  map[string]any
	}{
		{"active", 0, []string{"account", "approvers", "commit", "duration", "duration_seconds", "emergency",
			"emergency_unreviewed", "end", "hours", "id", "merged_at", "path", "reason", "requester", "role", "start", "state", "ticket"},
			map[string]any{"state": "active", "duration": "2h", "duration_seconds": 7200.0, "start": "2026-11-25T11:00:00Z",
				"end": "2026-11-25T13:00:00Z", "hours": 2.0, "approvers": []any{}}},
		{"revoked", 2, []string{"account", "approvers", "commit", "duration", "duration_seconds", "emergency",
			"emergency_unreviewed", "end", "hours", "id", "merged_at", "path", "reason", "requester", "revoked_at", "revoked_commit",
			"role", "start", "state", "ticket"},
			map[string]any{"state": "revoked", "revoked_at": "2026-11-25T10:00:00Z", "revoked_commit": h.sha["bob-admin-rm"], "hours": 1.0}},
		{"invalid", 5, []string{"account", "approvers", "commit", "duration", "duration_seconds", "emergency",
			"emergency_unreviewed", "hours", "id", "invalid", "merged_at", "path", "reason", "requester", "role", "state", "ticket"},
			map[string]any{"state": "invalid", "duration": "", "requester": ""}},
		{"emergency", 4, nil, map[string]any{"emergency": true, "emergency_unreviewed": true, "duration": "30m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := doc.Entries[tt.entry]
			keys := slices.Sorted(maps.Keys(e))
			for _, k := range keys {
				if !snake.MatchString(k) {
					t.Errorf("key %q is not snake_case", k)
				}
			}
			if tt.keys != nil {
				if diff := cmp.Diff(tt.keys, keys); diff != "" {
					t.Errorf("keys (-want +got):\n%s", diff)
				}
			}
			for k, want := range tt.some {
				if diff := cmp.Diff(want, e[k]); diff != "" {
					t.Errorf("%s (-want +got):\n%s", k, diff)
				}
			}
		})
	}
	wantTotal := map[string]any{"account": "prod", "role": "Admin", "grants": 4.0, "hours": 4.5, "emergency": 2.0, "people": 4.0}
	if diff := cmp.Diff(wantTotal, doc.Totals[0]); diff != "" {
		t.Errorf("first total (-want +got):\n%s", diff)
	}
}

// TestTable checks the table's layout; its wording is in
// testdata/offline.table.golden (TestReportGolden).
func TestTable(t *testing.T) {
	t.Parallel()
	_, rep := offlineReport(t)
	var buf bytes.Buffer
	if err := rep.Table(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	if !strings.HasPrefix(lines[3], "STATE ") {
		t.Fatalf("line 4 is not the header:\n%s", buf.String())
	}
	for i, l := range lines {
		if strings.HasSuffix(l, " ") {
			t.Errorf("line %d ends in a blank: %q", i+1, l)
		}
	}
	// Every entry row has the same column starts as the header.
	header := lines[3]
	col := strings.Index(header, "REQUESTER")
	for _, l := range lines[4 : 4+len(rep.Entries)] {
		if len(l) < col || l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("row not aligned with the header at column %d:\n%s\n%s", col, header, l)
		}
	}
}

func TestTableCleansControlCharacters(t *testing.T) {
	t.Parallel()
	rep := &audit.Report{Generated: now, Branch: "main", Head: strings.Repeat("a", 40), Entries: []audit.Entry{{
		ID: "prod/2026-11/x", State: audit.StateInvalid, Account: "prod", Invalid: "bad\x1b[31m red\ttab\nline",
	}}}
	var buf bytes.Buffer
	if err := rep.Table(&buf); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(buf.String(), "\x1b\t") || !strings.Contains(buf.String(), "invalid: bad [31m red tab line") {
		t.Errorf("control characters reach the terminal:\n%q", buf.String())
	}
}

func TestFormatsOfEmptyReport(t *testing.T) {
	t.Parallel()
	rep := &audit.Report{Generated: now, Branch: "main", Head: strings.Repeat("a", 40), Offline: true}
	for name, write := range map[string]func(*bytes.Buffer) error{
		"table": func(b *bytes.Buffer) error { return rep.Table(b) },
		"csv":   func(b *bytes.Buffer) error { return rep.CSV(b) },
		"json":  func(b *bytes.Buffer) error { return rep.JSON(b) },
		"html":  func(b *bytes.Buffer) error { return rep.HTML(b) },
	} {
		var buf bytes.Buffer
		if err := write(&buf); err != nil || buf.Len() == 0 {
			t.Errorf("%s: %v, %d bytes", name, err, buf.Len())
		}
	}
	var buf bytes.Buffer
	_ = rep.JSON(&buf)
	if !strings.Contains(buf.String(), `"entries": []`) || !strings.Contains(buf.String(), `"totals": []`) {
		t.Errorf("empty JSON lists are not []:\n%s", buf.String())
	}
}
