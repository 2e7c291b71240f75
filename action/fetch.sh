#!/usr/bin/env bash
# Fetches the elevate-action release binary this commit of action.yml names
# and runs nothing that does not match its SHA-256. Between releases
# (no checksums written) it asks for a build from this commit's source.
set -euo pipefail

out="${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set: run this inside GitHub Actions}"
dest="${RUNNER_TEMP:?RUNNER_TEMP is not set}/elevate-action"

if [[ -z "${ELEVATE_RELEASE_URL}${ELEVATE_SHA256_LINUX_X64}${ELEVATE_SHA256_LINUX_ARM64}" ]]; then
  echo "No release binary is pinned at this commit: building the judge from its source."
  echo "build=true" >>"$out"
  exit 0
fi

case "${RUNNER_OS:-}/${RUNNER_ARCH:-}" in
  Linux/X64) platform=linux_amd64 want="${ELEVATE_SHA256_LINUX_X64}" ;;
  Linux/ARM64) platform=linux_arm64 want="${ELEVATE_SHA256_LINUX_ARM64}" ;;
  *) want="" platform="${RUNNER_OS:-?}/${RUNNER_ARCH:-?}" ;;
esac
if [[ ! "$want" =~ ^[0-9a-f]{64}$ ]]; then
  echo "::error title=elevate::action.yml pins no elevate-action binary for ${platform}; run the judge on a Linux x64 or arm64 runner"
  exit 1
fi

tmp="$(mktemp "${dest}.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
url="${ELEVATE_RELEASE_URL%/}/elevate-action_${platform}"
# https only (file: for a local mirror); the checksum, not the transport, is the trust.
curl --proto '=https,file' --fail --silent --show-error --location --retry 3 --max-time 120 \
  --max-filesize 104857600 --output "$tmp" "$url"

got="$(sha256sum "$tmp" | cut -d' ' -f1)"
if [[ "$got" != "$want" ]]; then
  echo "::error title=elevate::refusing ${url}: its SHA-256 is ${got}, action.yml at this commit pins ${want}"
  exit 1
fi
chmod 0755 "$tmp"
mv -f "$tmp" "$dest"
trap - EXIT
echo "Verified elevate-action_${platform}: SHA-256 ${got}"
echo "build=false" >>"$out"
