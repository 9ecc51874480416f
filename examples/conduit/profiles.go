package main

import (
	"context"
	"errors"
	"net/http"

	"github.com/tollgate-db/tollgate/repo"
)

// profileJSON is RealWorld's Profile: a user as others see it.
type profileJSON struct {
	Username  string  `json:"username"`
	Bio       string  `json:"bio"`
	Image     *string `json:"image"`
	Following bool    `json:"following"`
}

func profileOf(u User, following bool) profileJSON {
	return profileJSON{Username: u.Username, Bio: u.Bio, Image: u.Image, Following: following}
}

type profileEnvelope struct {
	Profile profileJSON `json:"profile"`
}

// userByName finds the user of the path's {username}; an unknown name is
// answered 404 and reported false.
func (s *server) userByName(w http.ResponseWriter, r *http.Request) (User, bool) {
	u, err := s.users.First(r.Context(), repo.Where("username", repo.Eq, r.PathValue("username")))
	if err != nil {
		if errors.Is(err, repo.ErrNotFound) {
			writeErrors(w, http.StatusNotFound, "profile not found")
		} else {
			s.fail(w, r, err)
		}
		return User{}, false
	}
	return u, true
}

// getProfile: GET /api/profiles/{username}.
func (s *server) getProfile(w http.ResponseWriter, r *http.Request) {
	u, ok := s.userByName(w, r)
	if !ok {
		return
	}
	following := false
	if v, ok := viewerFrom(r.Context()); ok {
		fs, err := s.followingOf(r.Context(), v.ID, u.ID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		following = fs[0]
	}
	writeJSON(w, http.StatusOK, profileEnvelope{profileOf(u, following)})
}

// follow: POST /api/profiles/{username}/follow. Following oneself is 422;
// following twice is no error.
func (s *server) follow(w http.ResponseWriter, r *http.Request) {
	s.setFollow(w, r, true)
}

// unfollow: DELETE /api/profiles/{username}/follow.
func (s *server) unfollow(w http.ResponseWriter, r *http.Request) {
	s.setFollow(w, r, false)
}

func (s *server) setFollow(w http.ResponseWriter, r *http.Request, on bool) {
	v, _ := viewerFrom(r.Context())
	u, ok := s.userByName(w, r)
	if !ok {
		return
	}
	if u.ID == v.ID {
		writeErrors(w, http.StatusUnprocessableEntity, "you cannot follow yourself")
		return
	}
	var err error
	if on {
		err = s.following.Add(r.Context(), v.ID, u.ID) // following twice keeps one link
	} else {
		err = s.following.Remove(r.Context(), v.ID, u.ID)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, profileEnvelope{profileOf(u, on)})
}

// followingOf reports for each of ids whether user me follows it.
// It is one statement however many ids there are.
func (s *server) followingOf(ctx context.Context, me int64, ids ...int64) ([]bool, error) {
	return s.following.Linked(ctx, me, anys(ids)...)
}

// anys converts keys for the variadic ...any of repo.Links.
func anys(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}
