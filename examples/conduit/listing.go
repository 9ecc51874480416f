package main

import (
	"context"
	"net/http"

	"gorm.io/gorm"

	"github.com/tollgate-db/tollgate/pool"
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
// and how many f selects in all.
func (s *server) findArticles(ctx context.Context, f articleFilter, limit, offset int) ([]Article, int64, error) {
	// TODO(repo): Has("Tags", ...), Where("Author.Username", ...),
	// Has("FavoritedBy", ...), Has("Author.Followers", ...) with Find and Count.
	var arts []Article
	var total int64
	err := s.p.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
		q := db.Model(&Article{})
		if f.Tag != "" {
			q = q.Where("EXISTS (SELECT 1 FROM conduit_article_tags at JOIN conduit_tags t ON t.id = at.tag_id WHERE at.article_id = conduit_articles.id AND t.name = ?)", f.Tag)
		}
		if f.Author != "" {
			q = q.Where("author_id IN (SELECT id FROM conduit_users WHERE username = ?)", f.Author)
		}
		if f.Favorited != "" {
			q = q.Where("EXISTS (SELECT 1 FROM conduit_favorites fa JOIN conduit_users u ON u.id = fa.user_id WHERE fa.article_id = conduit_articles.id AND u.username = ?)", f.Favorited)
		}
		if f.FeedOf != 0 {
			q = q.Where("EXISTS (SELECT 1 FROM conduit_follows fo WHERE fo.followee_id = conduit_articles.author_id AND fo.follower_id = ?)", f.FeedOf)
		}
		if err := q.Session(&gorm.Session{}).Count(&total).Error; err != nil {
			return err
		}
		return q.Order("created_at DESC, id DESC").Limit(limit).Offset(offset).Find(&arts).Error
	}, pool.Idempotent())
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
