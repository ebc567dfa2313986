#!/bin/sh
# Fills fuzz/corpus/ with seed inputs: every stage of content/ with its roadmap.md
# (NUL-separated, as src/content/parse.rs `split_fuzz_input` reads them), and the kept
# regression inputs of both targets. See docs/fuzzing.md.
set -eu
cd "$(dirname "$0")"
mkdir -p corpus/content_parse corpus/import_file
for roadmap in ../content/*/; do
    name=$(basename "$roadmap")
    for stage in "$roadmap"[0-9]*.md; do
        { cat "$roadmap/roadmap.md"; printf '\0'; cat "$stage"; } \
            > "corpus/content_parse/seed-$name-$(basename "$stage" .md)"
    done
done
cp regressions/content_parse/* corpus/content_parse/
cp regressions/import_file/* corpus/import_file/
