// Package awsprofile edits the sections elevate writes into a person's AWS
// config file (~/.aws/config): credential_process profiles, AWS SSO
// profiles and their sso-session, next to whatever else the file holds.
//
// elevate marks each section it writes with the comment line Marker
// directly above the section's header:
//
//	# written by elevate configure (it rewrites or removes this section; delete this line to make it yours)
//	[profile elevate-prod-Admin]
//	credential_process = elevate credentials --account prod --role Admin
//
// A section is elevate's only when a line starting "# written by elevate
// configure" is directly above its header and its name is one elevate
// writes (the caller says which: Apply's ours).
// Such a section runs from the marker to its last line that is not blank
// or a comment: comments and blank lines before the next section belong to
// nobody and stay. Apply rewrites elevate's sections in place, removes
// those no longer wanted, and adds the new ones after the last of them (or
// at the end of the file). Every other byte of the file is kept as it is,
// but for the blank lines that separated a removed section from its
// neighbours, and a newline ending a last line that had none. A section
// elevate did not write is never touched, even when its name is one
// elevate wants: that name is skipped, and an elevate section of the same
// name is removed, since the AWS CLI refuses a file that names a section
// twice.
//
// Lines are read as the AWS CLI reads them (Python's configparser): full
// line comments start with # or ;, an indented line after a key continues
// its value, a header is [ ... ] up to the last ], and "profile NAME" and
// "sso-session NAME" are split as a shell would (quotes allowed).
package awsprofile
