package main

import (
	"errors"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate-db/tollgate/repo"
)

// userJSON is RealWorld's User: the caller's own account, with a token.
type userJSON struct {
	Email    string  `json:"email"`
	Token    string  `json:"token"`
	Username string  `json:"username"`
	Bio      string  `json:"bio"`
	Image    *string `json:"image"`
}

type userEnvelope struct {
	User userJSON `json:"user"`
}

func writeUser(w http.ResponseWriter, code int, u User, token string) {
	writeJSON(w, code, userEnvelope{userJSON{Email: u.Email, Token: token, Username: u.Username, Bio: u.Bio, Image: u.Image}})
}

// Limits of the user fields (the columns' sizes; bcrypt reads 72 bytes).
const (
	maxUsernameBytes = 64
	maxEmailBytes    = 320
	minPasswordBytes = 8
	maxPasswordBytes = 72
	maxBioBytes      = 4 << 10
	maxImageBytes    = 2 << 10
)

// problems collects validation messages for one 422 answer.
type problems []string

func (p *problems) add(msg string) { *p = append(*p, msg) }

// answered writes the 422 when there are problems and reports whether it did.
func (p problems) answered(w http.ResponseWriter) bool {
	if len(p) == 0 {
		return false
	}
	writeErrors(w, http.StatusUnprocessableEntity, p...)
	return true
}

func (p *problems) username(v string) {
	switch {
	case v == "":
		p.add("username can't be blank")
	case len(v) > maxUsernameBytes:
		p.add("username is too long (at most 64 bytes)")
	case strings.IndexFunc(v, func(r rune) bool {
		return !(r == '_' || r == '-' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) >= 0:
		p.add("username may hold only letters, digits, '_', '-' and '.'")
	}
}

func (p *problems) email(v string) {
	switch {
	case v == "":
		p.add("email can't be blank")
	case len(v) > maxEmailBytes:
		p.add("email is too long (at most 320 bytes)")
	default:
		if a, err := mail.ParseAddress(v); err != nil || a.Address != v {
			p.add("email is invalid")
		}
	}
}

func (p *problems) password(v string) {
	if len(v) < minPasswordBytes || len(v) > maxPasswordBytes {
		p.add("password must be 8 to 72 bytes")
	}
}

// text checks a free-text field: valid UTF-8, no NUL (PostgreSQL text
// cannot hold it), at most max bytes.
func (p *problems) text(name, v string, max int) {
	if len(v) > max || !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
		p.add(name + " must be valid text of at most " + strconv.Itoa(max) + " bytes")
	}
}

// conflict names the field of a unique violation on users, from the
// constraint's name (PostgreSQL) or column list (SQLite).
func conflict(err error) string {
	var ce *repo.ConflictError
	if errors.As(err, &ce) {
		switch {
		case strings.Contains(ce.Constraint, "email"):
			return "email has already been taken"
		case strings.Contains(ce.Constraint, "username"):
			return "username has already been taken"
		}
	}
	return "username or email has already been taken"
}

type registerRequest struct {
	User struct {
		Username string `json:"username"`
		Email    string `json:"email"`
		Password string `json:"password"`
	} `json:"user"`
}

// register: POST /api/users.
func (s *server) register(w http.ResponseWriter, r *http.Request) {
	var req registerRequest
	if !decode(w, r, &req) {
		return
	}
	in := req.User
	in.Username, in.Email = strings.TrimSpace(in.Username), strings.TrimSpace(in.Email)
	var p problems
	p.username(in.Username)
	p.email(in.Email)
	p.password(in.Password)
	if p.answered(w) {
		return
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(in.Password), s.cost)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	u := User{Username: in.Username, Email: in.Email, PasswordHash: string(hash)}
	if err := s.users.Create(r.Context(), &u); err != nil {
		if errors.Is(err, repo.ErrConflict) {
			writeErrors(w, http.StatusUnprocessableEntity, conflict(err))
			return
		}
		s.fail(w, r, err)
		return
	}
	s.answerWithToken(w, r, http.StatusCreated, u)
}

func (s *server) answerWithToken(w http.ResponseWriter, r *http.Request, code int, u User) {
	tok, err := s.issue(u.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeUser(w, code, u, tok)
}

type loginRequest struct {
	User struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	} `json:"user"`
}

// login: POST /api/users/login.
func (s *server) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if !decode(w, r, &req) {
		return
	}
	in := req.User
	var p problems
	if strings.TrimSpace(in.Email) == "" {
		p.add("email can't be blank")
	}
	if in.Password == "" {
		p.add("password can't be blank")
	}
	if p.answered(w) {
		return
	}
	u, err := s.users.First(r.Context(), repo.Where("email", repo.Eq, strings.TrimSpace(in.Email)))
	var hash []byte
	switch {
	case err == nil:
		hash = []byte(u.PasswordHash)
	case errors.Is(err, repo.ErrNotFound):
		hash = s.dummyHash()
	default:
		s.fail(w, r, err)
		return
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(in.Password)) != nil || err != nil {
		writeErrors(w, http.StatusUnauthorized, "email or password is invalid")
		return
	}
	s.answerWithToken(w, r, http.StatusOK, u)
}

// currentUser: GET /api/user.
func (s *server) currentUser(w http.ResponseWriter, r *http.Request) {
	v, _ := viewerFrom(r.Context())
	u, err := s.users.Get(r.Context(), v.ID)
	if errors.Is(err, repo.ErrNotFound) {
		unauthorized(w) // a valid token of a deleted account
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeUser(w, http.StatusOK, u, v.Token)
}

type updateUserRequest struct {
	User struct {
		Email    *string `json:"email"`
		Username *string `json:"username"`
		Password *string `json:"password"`
		Bio      *string `json:"bio"`
		Image    *string `json:"image"`
	} `json:"user"`
}

// updateUser: PUT /api/user. Only the fields present change; an empty
// image clears it.
func (s *server) updateUser(w http.ResponseWriter, r *http.Request) {
	v, _ := viewerFrom(r.Context())
	var req updateUserRequest
	if !decode(w, r, &req) {
		return
	}
	in := req.User
	set := map[string]any{}
	var p problems
	if in.Email != nil {
		e := strings.TrimSpace(*in.Email)
		p.email(e)
		set["email"] = e
	}
	if in.Username != nil {
		n := strings.TrimSpace(*in.Username)
		p.username(n)
		set["username"] = n
	}
	if in.Password != nil {
		p.password(*in.Password)
	}
	if in.Bio != nil {
		p.text("bio", *in.Bio, maxBioBytes)
		set["bio"] = *in.Bio
	}
	if in.Image != nil {
		p.text("image", *in.Image, maxImageBytes)
		if *in.Image == "" {
			set["image"] = nil
		} else {
			set["image"] = *in.Image
		}
	}
	if p.answered(w) {
		return
	}
	if in.Password != nil {
		hash, err := bcrypt.GenerateFromPassword([]byte(*in.Password), s.cost)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		set["password_hash"] = string(hash)
	}
	if err := s.users.UpdateFields(r.Context(), v.ID, set); err != nil {
		switch {
		case errors.Is(err, repo.ErrConflict):
			writeErrors(w, http.StatusUnprocessableEntity, conflict(err))
		case errors.Is(err, repo.ErrNotFound):
			unauthorized(w)
		default:
			s.fail(w, r, err)
		}
		return
	}
	s.currentUser(w, r)
}
