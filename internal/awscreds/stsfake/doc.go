// Package stsfake is an in-process fake of AWS STS and of the AWS console
// federation endpoint, for tests and local demos.
//
// It speaks the real protocols on loopback, so code under test talks to it
// through the real aws-sdk-go-v2 STS client (or the AWS CLI) pointed at
// Fake.URL:
//
//	f := stsfake.New(t)
//	f.AddKey("AKIAFAKEBROKER000001", "broker-secret", "arn:aws:iam::123456789012:user/elevate-broker")
//	client, _ := awscreds.NewSTSClient(ctx, "us-east-1", f.URL, nil,
//		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIAFAKEBROKER000001", "broker-secret", "")))
//	... run the code under test ...
//	if got := f.Calls("AssumeRole"); got != 1 { ... }
//
// STS (POST / with a form body Action=…&Version=2011-06-15):
//
//   - Every call must carry a valid AWS Signature Version 4. The fake
//     recomputes the signature by hand from the canonical request (method,
//     path, query, the signed headers, and the SHA-256 of the body it
//     received) and the secret of the access key named in the credential
//     scope, which must read <date>/<region>/sts/aws4_request. An unknown key
//     is 403 InvalidClientTokenId, a wrong signature 403
//     SignatureDoesNotMatch, a missing one 403 MissingAuthenticationToken.
//     Keys are those added with AddKey and those the fake issued; an issued
//     key also needs its X-Amz-Security-Token, and expires.
//   - AssumeRole enforces STS's parameter limits and answers 400
//     ValidationError for a violation: RoleArn arn:aws:iam::<12 digits>:role/…,
//     RoleSessionName 2-64 characters of [\w+=,.@-], DurationSeconds
//     900-43200 (at most 3600 when the caller is itself a role session: role
//     chaining), SourceIdentity 2-64 characters of [\w+=,.@-] not starting
//     with "aws:", at most 50 tags with keys of 1-128 and values of at most
//     256 characters of [\p{L}\p{Z}\p{N}_.:/=+\-@] and no duplicate key,
//     Policy at most 2048 characters. A Policy that is not a JSON object is
//     400 MalformedPolicyDocument, as STS answers. It does not model IAM:
//     any role in any account may be assumed by any known key.
//   - Answers are STS's XML (namespace https://sts.amazonaws.com/doc/2011-06-15/):
//     AssumeRoleResponse with Credentials (AccessKeyId starting ASIA,
//     Expiration now + DurationSeconds), AssumedRoleUser
//     (arn:aws:sts::<account>:assumed-role/<role>/<session>) and
//     SourceIdentity; GetCallerIdentityResponse with UserId, Account and Arn
//     (the assumed-role ARN for credentials the fake issued); errors as
//     ErrorResponse/Error{Type, Code, Message}/RequestId.
//
// The federation endpoint (SigninURL, GET /federation):
//
//   - Action=getSigninToken checks that Session names credentials the fake
//     issued ({"sessionId","sessionKey","sessionToken"}), not expired, and
//     that SessionDuration, if present, is 900-43200 and not used with
//     role-chained credentials (AWS answers 400 there too); it answers
//     {"SigninToken":"…"} valid for 15 minutes.
//   - Action=login answers 200 with a small HTML page only for a SigninToken
//     the fake issued and a Destination.
//
// The fake fails the test (t.Errorf) on a request it does not expect: another
// path or method, an unknown Action or Version, a body that is not a form.
// Such requests are answered with an STS-shaped error. Answers STS gives in
// normal operation (bad signatures, validation errors, unknown keys) are not
// test failures: tests provoke them on purpose. NewServer builds the same fake
// for a demo binary; it logs what New would report as a failure.
//
// All state sits behind one mutex; the fake is safe for concurrent calls.
package stsfake
