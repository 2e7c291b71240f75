// Package demo walks the whole elevate story on one machine: a throw-away
// access repository, local stand-ins for GitHub's REST API, GitHub's OIDC
// issuer and AWS STS / sign-in (the same fakes the tests use, bound to
// loopback; none of them is linked into the broker), the real elevate,
// elevate-action and elevate-broker binaries, and the AWS CLI. Run returns an
// error as soon as a step does not behave as the story says.
package demo
