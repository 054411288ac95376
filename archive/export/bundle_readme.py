"""README.txt of an export bundle: what is in it and how to check it, with or without
wa-archive (pure text; the same in every bundle, so it says nothing about the query)."""

from __future__ import annotations

README = """\
WhatsApp compliance archive: export bundle (wa-archive/export@1)
=================================================================

This folder (or zip) is a production from a WhatsApp compliance archive. Everything in
it can be checked offline, with nothing but the archive's public seal key.

What is here
------------
manifest.json     the query (scope, dates, time zone, formats), who ran the export and
                  when, counts, and the SHA-256 and size of every other file. "blobs"
                  lists every archived blob: its container and name in the archive, its
                  SHA-256 and size, the file (and, for records, the line) holding its
                  bytes here, and its proof. "unsealed" lists blobs no daily seal holds
                  yet (written today, or on a day not sealed yet): they have no proof.
                  "media_gaps" lists media the archive could not fetch from WhatsApp.
records.jsonl     the archived records, one per line, byte for byte as stored (canonical
                  JSON: sorted keys, UTF-8, no line breaks inside). Line n without its
                  newline is the stored record: its SHA-256 is the one in its proof.
index.csv         one row per record: local time (with UTC offset), UTC time,
                  conversation, from, to, direction, event, type, text or caption, latest
                  status, media files, message id, record path. UTF-8 with a BOM.
                  Spreadsheet safety: a cell that would start with = + - @ (or a tab or
                  carriage return) is written with a leading apostrophe ('), so a
                  spreadsheet shows it as text instead of running it as a formula. The
                  records in records.jsonl are unchanged; only index.csv is escaped.
media/            media files, named <SHA-256 of the bytes>.<extension>; the original
                  file name (when the sender gave one) is in the record's media entry.
raw/              the verbatim webhook bodies the records were derived from, named
                  <SHA-256>.json; each record's "raw" field names its body.
proofs/           proofs/<container>/<id>.json: one Merkle inclusion proof per blob
                  (manifest.json "blobs" says which proof belongs to which blob).
                  proofs/seals/<seq>.json: the signed daily seals the proofs lead to.
                  proofs/public-keys.pem: the seal public key(s) the exporter had.
transcripts/      (if asked for) one HTML and/or PDF transcript per conversation.
rsmf/             (if asked for) one RSMF file per conversation (and period or part),
                  for review platforms such as Relativity.

Checking it with wa-archive
---------------------------
    wa-archive verify-export <this folder or zip> --public-key seal-key.pem

checks every file's size and SHA-256 against manifest.json, that there is no missing or
extra file, every proof against its seal, every seal's signature, and that the lines of
records.jsonl and the files in media/ and raw/ are exactly the sealed bytes. It prints
each problem with the file (and line) concerned and exits non-zero. Without
--public-key it uses proofs/public-keys.pem; an auditor should use a key obtained
independently from the firm (`wa-archive seal public-key`), because whoever could edit
this bundle could also replace the bundled key.

Checking it without wa-archive
------------------------------
1. File hashes: every file except manifest.json is listed in manifest.json "files".

       jq -r '.files[] | "\\(.sha256)  \\(.path)"' manifest.json | sha256sum -c -

   or, without jq:

       python3 -c "import json; m = json.load(open('manifest.json'));
       [print(f['sha256'] + '  ' + f['path']) for f in m['files']]" | sha256sum -c -

2. A record: line n of records.jsonl, without its newline, is the record.

       sed -n '<n>p' records.jsonl | tr -d '\\n' | sha256sum

   gives the "sha256" of that record's entry in manifest.json "blobs", and of the
   "leaf" in its proof. A media or raw file's SHA-256 is its file name.

3. A proof (format wa-archive/proof@1): "leaf" is {container, name, size, sha256};
   hash it as SHA-256(0x00 || canonical JSON of the leaf) (canonical JSON: sorted keys,
   no spaces, UTF-8), then combine with each "audit_path" entry as
   SHA-256(0x01 || left || right) following RFC 9162 section 2.1.3.2 with "leaf_index"
   and "tree_size"; the result must equal the seal's "root". The seal ("seal" in the
   proof, and proofs/seals/<seq>.json) is signed with ES256 (ECDSA P-256, SHA-256) over
   its canonical JSON; "signature" is r||s in hex. A 20-line Python script that checks
   a proof with only hashlib and cryptography is in the archive's docs/evidence.md
   ("Verify a proof with 20 lines of Python").

The seals here carry their header and signature but not their full leaf list: the leaf
list names every other blob of the day (other people's conversations). The Merkle root
in the signed header commits to all of them, and each proof carries the path from its
own leaf to that root.

The manifest itself is not signed. Its SHA-256 is recorded in the archive's audit trail
(the "export" entry, container "audit"), which the next daily seal covers, so the firm
can later prove which manifest, and so which files, it produced.
"""


def readme_text() -> str:
    return README
