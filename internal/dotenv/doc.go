// Package dotenv reads a .env file into the process environment for the
// examples, so that a copy of the repository's .env.example is all a new
// user needs. Variables the process already has win over the file; a
// missing file is not an error.
//
// The format is the common subset: KEY=value lines, an optional "export "
// prefix, blank lines and lines starting with # skipped, a value either
// unquoted (trimmed, and cut at " #", a comment after white space) or
// wholly in single or double quotes (taken literally: no escapes, no
// variable expansion, a # kept).
//
// It is a few lines of its own rather than github.com/joho/godotenv
// because the values are connection strings with passwords in them:
// godotenv expands $NAME inside unquoted and double-quoted values (a
// password "pa$word" silently becomes "pa"), and its parse errors quote
// the rest of the file, secrets included. Here nothing is expanded and an
// error names the line number only.
package dotenv
