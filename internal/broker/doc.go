// Package broker is the federation endpoint: it authenticates a GitHub
// identity, finds that person's verified, unexpired, unrevoked grant in the
// ledger, re-checks eligibility at the branch head, and calls sts:AssumeRole
// with a session that cannot outlive the grant. It fails closed.
package broker
