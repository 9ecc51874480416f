package main

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/tollgate-db/tollgate/repo"
)

// maxCommentBytes bounds a comment's body.
const maxCommentBytes = 16 << 10

// commentJSON is RealWorld's Comment.
type commentJSON struct {
	ID        int64       `json:"id"`
	CreatedAt timeJSON    `json:"createdAt"`
	UpdatedAt timeJSON    `json:"updatedAt"`
	Body      string      `json:"body"`
	Author    profileJSON `json:"author"`
}

type commentEnvelope struct {
	Comment commentJSON `json:"comment"`
}

type commentsEnvelope struct {
	Comments []commentJSON `json:"comments"`
}

// listComments: GET /api/articles/{slug}/comments, oldest first.
func (s *server) listComments(w http.ResponseWriter, r *http.Request) {
	var out []commentJSON
	err := s.snapshot(r.Context(), func(ctx context.Context) error {
		a, err := s.findArticle(ctx, r.PathValue("slug"))
		if err != nil {
			return err
		}
		cs, err := s.comments.Find(ctx, repo.Where("article_id", repo.Eq, a.ID).OrderBy("id", repo.Asc).Preload("Author"))
		if err != nil {
			return err
		}
		out, err = s.commentViews(ctx, cs)
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, commentsEnvelope{out})
}

// commentViews turns comments, loaded with their Author, into what the
// request's caller sees: one statement for whether the caller follows
// each author.
func (s *server) commentViews(ctx context.Context, cs []Comment) ([]commentJSON, error) {
	out := make([]commentJSON, len(cs))
	if len(cs) == 0 {
		return out, nil
	}
	var ids []int64
	for _, c := range cs {
		if !slices.Contains(ids, c.AuthorID) {
			ids = append(ids, c.AuthorID)
		}
	}
	following := map[int64]bool{}
	if v, ok := viewerFrom(ctx); ok {
		fs, err := s.followingOf(ctx, v.ID, ids...)
		if err != nil {
			return nil, err
		}
		for i, id := range ids {
			following[id] = fs[i]
		}
	}
	for i, c := range cs {
		out[i] = commentJSON{ID: c.ID, CreatedAt: timeJSON(c.CreatedAt), UpdatedAt: timeJSON(c.UpdatedAt),
			Body: c.Body, Author: profileOf(c.Author, following[c.AuthorID])}
	}
	return out, nil
}

type commentRequest struct {
	Comment struct {
		Body string `json:"body"`
	} `json:"comment"`
}

// addComment: POST /api/articles/{slug}/comments.
func (s *server) addComment(w http.ResponseWriter, r *http.Request) {
	v, _ := viewerFrom(r.Context())
	var req commentRequest
	if !decode(w, r, &req) {
		return
	}
	var p problems
	if strings.TrimSpace(req.Comment.Body) == "" {
		p.add("body can't be blank")
	}
	p.text("body", req.Comment.Body, maxCommentBytes)
	if p.answered(w) {
		return
	}
	var out []commentJSON
	err := s.p.Transaction(r.Context(), func(ctx context.Context) error {
		a, err := s.findArticle(ctx, r.PathValue("slug"))
		if err != nil {
			return err
		}
		c := Comment{Body: req.Comment.Body, ArticleID: a.ID, AuthorID: v.ID}
		if err := s.comments.Create(ctx, &c); err != nil {
			return err
		}
		if c, err = s.comments.First(ctx, repo.Where("id", repo.Eq, c.ID).Preload("Author")); err != nil {
			return err
		}
		out, err = s.commentViews(ctx, []Comment{c})
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, commentEnvelope{out[0]})
}

// deleteComment: DELETE /api/articles/{slug}/comments/{id}, by its
// author only.
func (s *server) deleteComment(w http.ResponseWriter, r *http.Request) {
	v, _ := viewerFrom(r.Context())
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeErrors(w, http.StatusUnprocessableEntity, "id must be a positive integer")
		return
	}
	a, ok := s.articleBySlug(w, r)
	if !ok {
		return
	}
	c, err := s.comments.First(r.Context(), repo.Where("id", repo.Eq, id).And("article_id", repo.Eq, a.ID))
	switch {
	case errors.Is(err, repo.ErrNotFound):
		writeErrors(w, http.StatusNotFound, "comment not found")
		return
	case err != nil:
		s.fail(w, r, err)
		return
	case c.AuthorID != v.ID:
		writeErrors(w, http.StatusForbidden, "only the author may delete this comment")
		return
	}
	if err := s.comments.Delete(r.Context(), c.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
