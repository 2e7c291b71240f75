// Package awscreds holds elevate's AWS side: how one issuance becomes an
// sts:AssumeRole call, and how the temporary credentials it returns are
// handed to people.
//
// The decision part is pure. Given a Session (who, which grant, which role,
// the grant's window end and the policy's session_duration, and the current
// time), RoleARN, SessionName, SourceIdentity, SessionPolicy, Duration and
// AssumeRoleInput compute the exact request the broker sends:
//
//   - RoleArn arn:aws:iam::<account>:role/<role>;
//   - RoleSessionName gh-<login>-<request id>, squeezed into STS's rules
//     (2-64 characters of [\w+=,.@-]);
//   - SourceIdentity gh-<login>, which AWS carries through role chaining and
//     records in CloudTrail;
//   - DurationSeconds min(session_duration, time left in the window), floored
//     at STS's 900 s minimum and capped at 12 h; a closed window is a
//     *WindowClosedError and no request is built;
//   - an inline session policy that allows "*" only while aws:CurrentTime is
//     before the window end. AWS intersects it with the role's own
//     permissions, so it grants nothing the role lacks, and because of it no
//     session (not even one stretched to the 900 s floor) can act after its
//     grant ends;
//   - session tags elevate-request, elevate-pr and elevate-github-id.
//
// The effect part is small: NewSTSClient builds an SDK STS client from the
// broker's own credentials (the SDK's default chain), and Console turns
// temporary credentials into a console sign-in URL through the federation
// endpoint's getSigninToken flow.
//
// Output formats are pure functions over Credentials: ProcessJSON (AWS
// credential_process, Version 1) and EnvLines (shell exports).
//
// Secrets (SecretAccessKey, SessionToken, sign-in tokens and the URLs that
// carry them) never appear in error messages; Credentials redacts itself when
// formatted with %v or logged with log/slog.
//
// Tests run against the httptest STS and federation fake in package stsfake.
package awscreds
