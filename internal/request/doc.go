// Package request holds elevate's request file: the small YAML file a pull
// request adds under requests/<account>/<yyyy-mm>/<name>.yaml to ask for
// temporary access to an AWS role.
//
// Parse reads a file strictly with internal/strictyaml (size, encoding, one
// document, no anchors or aliases, known keys only, every value of its type
// and format) and reports the first problem as an *Error that names the
// file, the line and the field. ParsePath checks where a request file lives,
// Window computes when a merged request grants access, and Marshal writes
// the canonical form of a request. Nothing here executes, templates or opens
// a path taken from a request.
package request
