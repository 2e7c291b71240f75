package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/brokerapi"
	"github.com/elevate-gitops/elevate/internal/request"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

// onMain puts the merged request on the fake's main branch, as a merge does.
func onMain(w *world) {
	files := map[string][]byte{}
	for p, d := range w.h.GitHub.BaseFiles {
		files[p] = d
	}
	files[vt.RequestPath] = []byte(vt.Request)
	w.h.GitHub.Fake.Commit("e000000000000000000000000000000000000001", files)
	w.h.GitHub.Fake.Branch("main", "e000000000000000000000000000000000000001")
}

func TestExtendOpensTheFollowOnRequest(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	onMain(w)
	fake := w.h.GitHub.Fake
	if code := w.run("extend", "codertocat-admin-inc1", "--duration", "1h"); code != 0 {
		t.Fatalf("exit %d: %s", code, w.err)
	}
	// PR #2 merged 30 minutes ago for 2h: its window ends in 90 minutes.
	end := w.h.Clock().Add(-30 * time.Minute).Add(2 * time.Hour).UTC()
	name := "codertocat-admin-inc1-ext-" + end.Format("20060102-1504")
	path := "requests/prod/" + w.h.Clock().UTC().Format("2006-01") + "/" + name + ".yaml"
	data, ok := fake.File("elevate/"+name, path)
	if !ok {
		t.Fatalf("no %s on branch elevate/%s; err %s", path, name, w.err)
	}
	got, err := request.Parse(path, data)
	if err != nil {
		t.Fatal(err)
	}
	if !got.NotBefore.Equal(end) || got.Duration != time.Hour || got.Account != "prod" || got.Role != "Admin" || got.Ticket != "INC-1" ||
		got.Reason != "Rotate the TLS certificate on the payments load balancer" {
		t.Errorf("extension = %+v, want prod/Admin for 1h from %s with INC-1 and the same reason", got, end)
	}
	pr := fake.Pull(3)
	if pr == nil || len(fake.PullFiles(3)) != 1 || !strings.Contains(pr.GetBody(), "Extends `"+vt.RequestID+"` (#2) without a gap") {
		t.Fatalf("PR #3 = %v", pr)
	}
	if n := fake.Calls("POST /repos/{owner}/{repo}/pulls"); n != 1 {
		t.Errorf("%d PRs opened, want 1", n)
	}
}

// The extension is judged before anything is opened, as `elevate request` is.
func TestExtendThatTheCheckWouldRejectOpensNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	onMain(w)
	checkFailures(t, w, "extend-rejected", []failureCase{
		{"extension the check would reject", nil, []string{"extend", vt.RequestID, "--duration", "9h"}, ExitError},
	})
	if n := w.h.GitHub.Fake.Calls("POST /repos/{owner}/{repo}/git/refs") + w.h.GitHub.Fake.Calls("POST /repos/{owner}/{repo}/pulls"); n != 0 {
		t.Errorf("%d branches or PRs created for a rejected extension", n)
	}
}

func TestExtendAGrantThatEndedSaysWhatToDo(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	onMain(w)
	checkFailures(t, w, "extend-ended", []failureCase{
		{"extend a grant that ended", func(w *world) { w.h.SetNow(w.h.Clock().Add(3 * time.Hour)) }, []string{"extend", vt.RequestID, "--duration", "1h"}, ExitError},
	})
}

func TestStatusShowsTheChainOfExtensions(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	grants := []brokerapi.Grant{
		{ID: "prod/2026-12/a", Account: "prod", Role: "Admin", State: brokerapi.StateActive, Start: now.Add(-time.Hour), End: now.Add(time.Hour), PR: 2},
		{ID: "prod/2026-12/a-ext", Account: "prod", Role: "Admin", State: brokerapi.StateScheduled, Start: now.Add(time.Hour), End: now.Add(3 * time.Hour), PR: 3},
		{ID: "prod/2026-12/other", Account: "prod", Role: "ReadOnly", State: brokerapi.StateScheduled, Start: now.Add(time.Hour), End: now.Add(2 * time.Hour), PR: 4},
	}
	rows := GrantRows(grants, false, now)
	want := map[string]string{
		"prod/2026-12/a":     "until 2026-12-02T11:00:00Z (1h left)",
		"prod/2026-12/a-ext": "from 2026-12-02T11:00:00Z, extends prod/2026-12/a",
		"prod/2026-12/other": "from 2026-12-02T11:00:00Z",
	}
	for _, r := range rows {
		if r.Detail != want[r.ID] {
			t.Errorf("%s: detail %q, want %q", r.ID, r.Detail, want[r.ID])
		}
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		f, out, _ := testFactory(map[string]string{})
		if code := Main(t.Context(), f, args); code != 0 || !strings.HasPrefix(out.String(), "elevate ") {
			t.Errorf("%v: exit %d, %q", args, code, out)
		}
	}
}
