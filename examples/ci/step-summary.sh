#!/usr/bin/env bash
# A CI job's summary (Markdown) from a `pixelproof check` report: a headline with the totals,
# then one line per fixture that failed, could not be checked or became a candidate, naming
# the pages that changed and where each is in the report's index.html.
#
#   examples/ci/step-summary.sh REPORT_DIR [REPORT_URL [CANDIDATES_URL]] >> "$GITHUB_STEP_SUMMARY"
#
# REPORT_URL and CANDIDATES_URL are where the report and the candidates can be downloaded (on
# GitHub, the upload steps' `artifact-url`); the fixtures link to the report. Either may be
# empty. Reads REPORT_DIR/summary.json (src/check/summary.rs) with jq. Exits 0 whatever the
# report says (the check's own exit code is the verdict); 2 on bad arguments or without jq.
# examples/github-actions.yml runs it; tests/it/ci_kit.rs runs that workflow's commands.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 3 ] || [ -z "$1" ]; then
  echo "usage: $0 REPORT_DIR [REPORT_URL [CANDIDATES_URL]]" >&2
  exit 2
fi
report=$1 report_url=${2:-} candidates_url=${3:-}
command -v jq >/dev/null || { echo "$0: jq is needed (apt-get install jq)" >&2; exit 2; }

if [ ! -f "$report/summary.json" ]; then
  printf '### pixelproof check: no report\n\n'
  printf 'The check wrote no `%s/summary.json`: it stopped before comparing (environment drift, a template that does not load, no Chromium). Its log says why.\n' "$report"
  exit 0
fi

jq -r --arg report_url "$report_url" --arg candidates_url "$candidates_url" '
  # Text from a document (a text diff, a font name) must not become Markdown or HTML.
  def md: gsub("[\r\n\t]+"; " ") | gsub("(?<c>[\\\\`*_{}\\[\\]<>|#!~])"; "\\\(.c)")
    | if length > 200 then .[:200] + "…" else . end;
  def link($text; $url): if $url == "" then $text else "[\($text)](\($url))" end;
  def plural($n; $word): "\($n) \($word)\(if $n == 1 then "" else "s" end)";
  def anchor: "f-" + (.key | sub("/"; "-"));
  def pages_changed: [.reasons[] | select(.page != null) | .page] | unique;
  # A page and its reasons, with its place in index.html.
  def page_line($f; $n):
    "page \($n) (`index.html#\($f | anchor)-p\($n)`): "
    + ([$f.reasons[] | select(.page == $n) | .message | md] | join("; "));
  def fixture_line:
    . as $f
    | pages_changed as $pages
    | ([.reasons[] | select(.page == null) | .message | md]) as $whole
    | "- **\(.status | ascii_upcase)** " + link("`\(.key)`"; $report_url)
      + (if ($pages | length) == 0 then " (`index.html#\(anchor)`)" else "" end)
      + ": "
      + ($whole + [$pages[:5][] | page_line($f; .)]
         + (if ($pages | length) > 5 then ["and \(($pages | length) - 5) more pages"] else [] end)
         | join("; "));

  .totals as $t
  | [.fixtures[] | select(.status != "pass")] as $shown
  | ([ (if $t.failed > 0 then "\($t.failed) failed" else empty end),
       (if $t.errors > 0 then plural($t.errors; "error") else empty end),
       (if $t.candidates_written > 0 then "\(plural($t.candidates_written; "candidate")) written" else empty end),
       "\($t.passed) passed" ] | join(", ")) as $counts
  | "### pixelproof check: \($counts) (\(plural($t.fixtures; "fixture")))",
    "",
    ($shown[:100][] | fixture_line),
    (if ($shown | length) > 100 then "- and \(($shown | length) - 100) more: see the report" else empty end),
    "",
    (if ($shown | length) > 0 then
       "The report: " + link("check-report"; $report_url)
       + " (open `index.html` at the anchors above; `junit.xml` and the pages as PNG are beside it).", ""
     else empty end),
    (if $t.candidates_written > 0 then
       "The candidates: " + link("pixelproof-candidates"; $candidates_url)
       + ". Unpack them into `baselines/.candidates/`, then `pixelproof baseline list`, approve or reject,"
       + " and commit `baselines/` (README.md, \"Visual regression in CI\")."
     else empty end)
' "$report/summary.json"
