// Package identitycenter makes the permission-set targets of open,
// verified grants real in IAM Identity Center: for each it creates the
// account assignment (the requester's Identity Center user, the
// permission set, the account), and deletes it when the grant ends or is
// revoked. A Deny in the permission set's inline policy ends the access on
// time even when no broker runs then.
//
// # Shape
//
// Reconcile is level-triggered (controller-runtime's Reconcile): from the
// targets it is given (open, not yet started, or ended within the
// caller's look-back) it computes what should exist, reads what does,
// and acts on the difference; called twice it does nothing the second
// time. The caller decides when: on every ledger sync and window boundary,
// and only at the newest verified head (a stale replica does not call
// it, so it never extends a Deny again nor re-creates a revoked
// assignment).
//
// Per managed permission set (Config.PermissionSets, eligibility.yaml's):
//
//  1. List the accounts it is provisioned to
//     (ListAccountsForProvisionedPermissionSet, paginated); with the
//     accounts of the targets they are the accounts in scope.
//  2. Read its inline policy (GetInlinePolicyForPermissionSet) and, per
//     account in scope, its assignments (ListAccountAssignments,
//     paginated).
//  3. Compute the Denies: for each person (UserId) and account with an
//     open target, one statement ending at the latest end among their
//     open targets there; for each one without an open target but with
//     an assignment or a statement, the end already passed:
//     min(previous end, latest end of their ended targets there, or now).
//  4. Put the policy where its content changed, then ProvisionPermissionSet
//     (TargetType AWS_ACCOUNT) to each account whose view of it changed
//     (the statements not elevate's and elevate's for that account), and
//     poll the provisioning to SUCCEEDED.
//  5. Per account: delete the assignments no open target wants, then
//     create the missing ones, polling each while IN_PROGRESS.
//
// # Decisions
//
// The Deny. One statement per person and account:
//
//	{"Sid":"ElevateEnd<16 hex>","Effect":"Deny","Action":"*","Resource":"*",
//	 "Condition":{"StringEquals":{"identitystore:UserId":"<id>","aws:PrincipalAccount":"<12 digits>"},
//	              "DateGreaterThan":{"aws:CurrentTime":"<RFC 3339 UTC, to the second>"}}}
//
// The Sid is SidPrefix and the first 8 bytes of sha256(UserId, NUL,
// account) in hex, so a statement is replaced, never appended. A statement
// is elevate's only if it has exactly this shape and the Sid its person
// and account give; anything else, a hand-edited Deny with elevate's
// prefix included, is someone else's and kept as written (compact JSON,
// no HTML escaping, so its characters and size do not change), in its
// order, before elevate's, which follow sorted by Sid. Two statements of
// elevate's for one person and account are read as the earlier end (it
// denies more). A policy that is not JSON, or has a top-level key IAM's
// grammar does not know, is never rewritten: the set's creations fail
// closed and the round returns an error. The policy is compared by
// content after parsing (whitespace and a URL-encoded answer do not
// count as a change), so an unchanged policy is neither put nor
// provisioned.
//
// Order. A creation needs its Deny written and provisioned to its
// account first: if the put or the provisioning fails (AWS refuses,
// FAILED, still IN_PROGRESS after PollLimit polls), no assignment is
// created (fail closed), the target is failed and announced, and the next
// Reconcile tries again. Which accounts have the current policy is
// remembered per Reconciler; a new one (a broker started again) asks AWS
// once per set (ListAccountsForProvisionedPermissionSet with
// LATEST_PERMISSION_SET_NOT_PROVISIONED) and provisions only those
// lacking it, so a failed provisioning is never forgotten and a restart
// does not provision every account again. Only accounts in scope are
// provisioned: where the set is not provisioned there is no role to
// update. Deletions do not wait on the Deny: removing access
// is always safe, so an end still deletes the assignment when the policy
// could not be written (and the round returns that error).
//
// Ends. An ended target (its End passed, or RevokedAt set) ends its
// person's access only when none of their other open targets for the
// same set and account needs it: two grants of one person share one
// assignment, and the Deny carries the later end. On revocation the end
// moves to the revocation (or to the latest end of the person's other
// open grants there), is provisioned, and then the assignment is deleted,
// so live sessions end too.
//
// Keeping ended Denies. Deleting an assignment does not end the role
// sessions already issued: they last up to the permission set's session
// duration (at most 12 hours). A Deny whose end passed is therefore kept
// Options.KeepEnded (default 12 h) after its end, and only then dropped,
// provided its person has no assignment and no open target there, and the
// account's assignments are known (read this round, or the set is not
// provisioned there). The last statement of a policy that
// holds nothing else is never dropped: an inline policy is never emptied.
//
// Size. IAM allows 10,240 characters in a permission set's inline policy,
// counted here in characters of the compact JSON written. One Deny takes
// 273 characters (with its comma) and the empty document 39, so a
// permission set holds at most 37 Denies (people with an open grant in an
// account, or who had one in the last KeepEnded), fewer beside statements
// of others. The statements already written and those of live
// assignments are always kept (their size does not change as their ends
// move); then the Denies of assignments that are ending are added, then
// those of new assignments, in account and user order, while the policy
// stays within the limit. A new assignment whose Deny does not fit is not
// created: the target is refused (StateRefused) and announced
// (assignment_refused); nothing live is dropped. If the policy is over the
// limit before any new Deny, nothing is written and the round returns an
// error.
//
// Drift. Every USER or GROUP assignment of a managed set, in an account
// in scope, that no open target wants is removed; one that no ended
// target explains either (made by hand, say) is announced
// (assignment_removed) once AWS confirms the deletion. For a USER, a Deny
// at now is written and provisioned first (space permitting) so that
// sessions already issued end too; a GROUP's members cannot be named in a
// Deny. An end only ever deletes the USER assignment of the person whose
// grant ended; GROUP assignments go only through this drift rule.
// Assignments of permission sets not in Config.PermissionSets are never
// read nor touched.
//
// AWSReservedSSO_ roles. Identity Center's roles in the member accounts
// cannot be edited (IAM answers UnmodifiableEntity). This package never
// calls IAM: the Deny goes into the permission set, and Identity Center
// itself writes it to the role when the set is provisioned. An error on
// PutInlinePolicyToPermissionSet (AccessDeniedException,
// ValidationException…) is the closest refusal it can meet, and fails
// closed as above.
//
// Retries and polling. ConflictException, ThrottlingException, Throttling
// and TooManyRequestsException (smithy.APIError's ErrorCode) are tried
// again up to Options.Attempts (default 6) times, after waits of
// Options.Backoff (default 500 ms) doubling up to 20 s, jittered into
// [w/2, w) by Options.Rand; other errors fail that write for the round
// while the others go on. Every call has a 30 s timeout. An asynchronous
// write is polled while IN_PROGRESS, at most Options.PollLimit (default
// 10) times with the same backoff; a write still IN_PROGRESS then is
// remembered (an hour) and polled again on the next Reconcile instead of
// being issued twice. A target is active only once AWS said SUCCEEDED
// (or lists the assignment). FAILED fails the target with AWS's
// FailureReason, announced (assignment_failed) each time; the caller
// dedups by its claim. A deletion AWS answers ResourceNotFoundException
// counts as done. An answer without an output or a status is an error,
// never a guess. SDK clients may keep their own retryer (the broker may
// pass aws.NopRetryer{} to leave the backoff to this package); Calls
// counts this package's tries only.
//
// Lists that lag a write. A creation or deletion AWS said SUCCEEDED is
// trusted for two minutes over a ListAccountAssignments that does not
// show it yet: no second creation, no deletion of what was just created,
// no second deletion.
//
// Users. Config.Users maps a numeric GitHub id to an Identity Center
// UserName, resolved with identitystore GetUserId (AlternateIdentifier
// UniqueAttribute, AttributePath "userName") and cached for an hour. A
// requester without a mapping, or whose UserName Identity Center does not
// know, fails that target with a reason that says so (announced); the
// others go on. An ended target whose user cannot be resolved has nothing
// to delete by name; the drift rule removes its assignment.
//
// States. State reports, per (request, account name, permission set
// name), what the last Reconcile left: pending before the start and until
// SUCCEEDED, active, failed, refused, or ended once the person's
// assignment is gone or kept only for another open grant of theirs. An
// ended target whose deletion is not confirmed stays active: its access
// is still live. A target whose account could not be read keeps its
// state; one no longer passed is forgotten.
//
// Calls. Per Reconcile, per managed permission set: one
// ListAccountsForProvisionedPermissionSet (per page), one
// GetInlinePolicyForPermissionSet and one ListAccountAssignments (per
// page) per account in scope; then at most one put, one provisioning per
// account whose Denies changed, one creation or deletion per assignment
// to change, each with at most PollLimit polls; and one GetUserId per
// requester not cached. A new Reconciler's first Reconcile also asks once
// per set which accounts lack the latest policy. A steady Reconcile (nothing to change) makes
// sum over the sets of (2 + accounts in scope) calls, whatever the
// history: ended grants past the caller's look-back are not passed, and
// ended or future targets in the same accounts add none. The accounts in
// scope include every account a set is provisioned to, grants or not.
package identitycenter
