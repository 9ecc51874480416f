// Package redact is tollgate's one redactor: every error, log attribute,
// Stats field, health report, migration error and example hides
// connection-string secrets through it.
//
// [DSN] masks the secrets of one PostgreSQL URL or keyword/value DSN,
// parsable or not, and keeps the rest as written. [Text] masks given
// secrets, in the encodings other layers print them, and every DSN secret
// it recognises in free text. Secret keys are those libpq knows
// (password, sslpassword), matched in any case and, in URLs, after
// percent-decoding (pass%77ord). Where a malformed string makes it
// ambiguous where a secret ends, both hide too much rather than too
// little.
package redact
