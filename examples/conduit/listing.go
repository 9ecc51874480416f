package main

import (
	"context"
	"net/http"

	"github.com/tollgate-db/tollgate/repo"
)

type articlesEnvelope struct {
	Articles      []articleJSON `json:"articles"`
	ArticlesCount int64         `json:"articlesCount"`
}

// articleFilter selects the articles of a list: every set field must
// match.
type articleFilter struct {
	Tag       string // tagged with this name
	Author    string // written by the user with this username
	Favorited string // favorited by the user with this username
	FeedOf    int64  // written by a user whom this user follows
}

// listArticles: GET /api/articles?tag=&author=&favorited=&limit=&offset=,
// newest first.
func (s *server) listArticles(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.answerList(w, r, articleFilter{Tag: q.Get("tag"), Author: q.Get("author"), Favorited: q.Get("favorited")})
}

// feed: GET /api/articles/feed?limit=&offset=: the articles of the users
// the caller follows, newest first.
func (s *server) feed(w http.ResponseWriter, r *http.Request) {
	v, _ := viewerFrom(r.Context())
	s.answerList(w, r, articleFilter{FeedOf: v.ID})
}

func (s *server) answerList(w http.ResponseWriter, r *http.Request, f articleFilter) {
	limit, offset, ok := pageParams(w, r)
	if !ok {
		return
	}
	var views []articleJSON
	var total int64
	err := s.snapshot(r.Context(), func(ctx context.Context) error {
		arts, n, err := s.findArticles(ctx, f, limit, offset)
		if err != nil {
			return err
		}
		total = n
		views, err = s.views(ctx, arts, false)
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, articlesEnvelope{Articles: views, ArticlesCount: total})
}

// findArticles returns one page of the articles f selects, newest first,
// with their authors and tags, and how many f selects in all.
func (s *server) findArticles(ctx context.Context, f articleFilter, limit, offset int) ([]Article, int64, error) {
	q := repo.All()
	if f.Tag != "" {
		q = q.Match(repo.Has("Tags", repo.Where("name", repo.Eq, f.Tag)))
	}
	if f.Author != "" {
		q = q.And("Author.Username", repo.Eq, f.Author)
	}
	if f.Favorited != "" {
		q = q.Match(repo.Has("FavoritedBy", repo.Where("username", repo.Eq, f.Favorited)))
	}
	if f.FeedOf != 0 {
		q = q.Match(repo.Has("Author.Followers", repo.Where("id", repo.Eq, f.FeedOf)))
	}
	arts, err := s.articles.Find(ctx, withAuthorAndTags(q.
		OrderBy("created_at", repo.Desc).OrderBy("id", repo.Desc).Limit(limit).Offset(offset)))
	if err != nil {
		return nil, 0, err
	}
	// A short page that starts inside the result is its end: the total
	// follows without a COUNT.
	if len(arts) < limit && (len(arts) > 0 || offset == 0) {
		return arts, int64(offset + len(arts)), nil
	}
	total, err := s.articles.Count(ctx, q)
	return arts, total, err
}

type tagsEnvelope struct {
	Tags []string `json:"tags"`
}

// listTags: GET /api/tags, by name.
func (s *server) listTags(w http.ResponseWriter, r *http.Request) {
	tags, err := s.tags.Find(r.Context(), repo.All().OrderBy("name", repo.Asc))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	names := make([]string, len(tags))
	for i, t := range tags {
		names[i] = t.Name
	}
	writeJSON(w, http.StatusOK, tagsEnvelope{names})
}
