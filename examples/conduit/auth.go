package main

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tokenTTL is how long a token is valid.
const tokenTTL = 72 * time.Hour

// viewer is the authenticated caller of a request: the user's id and the
// token it presented (RealWorld echoes the token in user responses).
type viewer struct {
	ID    int64
	Token string
}

type viewerKey struct{}

// viewerFrom returns the request's caller, or false for an anonymous one.
func viewerFrom(ctx context.Context) (viewer, bool) {
	v, ok := ctx.Value(viewerKey{}).(viewer)
	return v, ok
}

// issue signs a token for user id (HS256, subject = id).
func (s *server) issue(id int64) (string, error) {
	now := time.Now()
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject:   strconv.FormatInt(id, 10),
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(tokenTTL)),
	}).SignedString(s.secret)
}

// errNoToken: the request has no Authorization header.
var errNoToken = errors.New("no token")

// authenticate reads `Authorization: Token <jwt>` (RealWorld's scheme;
// `Bearer` is accepted too) and checks the token's signature, algorithm
// and expiry.
func (s *server) authenticate(r *http.Request) (viewer, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return viewer{}, errNoToken
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || (!strings.EqualFold(scheme, "Token") && !strings.EqualFold(scheme, "Bearer")) || tok == "" {
		return viewer{}, errors.New("authorization must be `Token <jwt>`")
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(tok, &claims, func(*jwt.Token) (any, error) { return s.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithExpirationRequired())
	if err != nil {
		return viewer{}, err
	}
	id, err := strconv.ParseInt(claims.Subject, 10, 64)
	if err != nil || id < 1 {
		return viewer{}, errors.New("token has no valid subject")
	}
	return viewer{ID: id, Token: tok}, nil
}

// required wraps h so that it runs only for an authenticated caller,
// found with viewerFrom; others get 401.
func (s *server) required(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := s.authenticate(r)
		if err != nil {
			unauthorized(w)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), viewerKey{}, v)))
	}
}

// optional wraps h so that a caller with a valid token is known to it;
// anonymous callers pass, a bad token gets 401.
func (s *server) optional(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := s.authenticate(r)
		switch {
		case errors.Is(err, errNoToken):
			h(w, r)
		case err != nil:
			unauthorized(w)
		default:
			h(w, r.WithContext(context.WithValue(r.Context(), viewerKey{}, v)))
		}
	}
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Token realm="conduit"`)
	writeErrors(w, http.StatusUnauthorized, "missing or invalid token")
}
