package main

import (
	"context"
	"net/http"
)

// favorite: POST /api/articles/{slug}/favorite. Favoriting twice is no
// error.
func (s *server) favorite(w http.ResponseWriter, r *http.Request) {
	s.setFavorite(w, r, true)
}

// unfavorite: DELETE /api/articles/{slug}/favorite.
func (s *server) unfavorite(w http.ResponseWriter, r *http.Request) {
	s.setFavorite(w, r, false)
}

func (s *server) setFavorite(w http.ResponseWriter, r *http.Request, on bool) {
	v, _ := viewerFrom(r.Context())
	var view []articleJSON
	// One transaction: one slot, and the answer shows the write.
	err := s.p.Transaction(r.Context(), func(ctx context.Context) error {
		a, err := s.findArticle(ctx, r.PathValue("slug"))
		if err != nil {
			return err
		}
		if on {
			err = s.favorites.Add(ctx, v.ID, a.ID) // favoriting twice keeps one link
		} else {
			err = s.favorites.Remove(ctx, v.ID, a.ID)
		}
		if err != nil {
			return err
		}
		view, err = s.views(ctx, []Article{a}, true)
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, articleEnvelope{view[0]})
}
