package main

import (
	"context"
	"slices"

	"gorm.io/gorm"

	"github.com/tollgate-db/tollgate/pool"
	"github.com/tollgate-db/tollgate/repo"
)

// articleJSON is RealWorld's Article. Body is left out of lists, as the
// spec's MultipleArticlesResponse does.
type articleJSON struct {
	Slug           string      `json:"slug"`
	Title          string      `json:"title"`
	Description    string      `json:"description"`
	Body           *string     `json:"body,omitempty"`
	TagList        []string    `json:"tagList"`
	CreatedAt      timeJSON    `json:"createdAt"`
	UpdatedAt      timeJSON    `json:"updatedAt"`
	Favorited      bool        `json:"favorited"`
	FavoritesCount int64       `json:"favoritesCount"`
	Author         profileJSON `json:"author"`
}

// views turns articles into what the request's caller sees: author
// profiles (followed or not), tags (sorted by name), favorite counts and
// whether the caller favorited each. It costs a fixed number of calls
// however many articles there are (no N+1).
func (s *server) views(ctx context.Context, arts []Article, withBody bool) ([]articleJSON, error) {
	out := make([]articleJSON, len(arts))
	if len(arts) == 0 {
		return out, nil
	}
	ids := make([]int64, len(arts))
	var authorIDs []int64
	for i, a := range arts {
		ids[i] = a.ID
		if !slices.Contains(authorIDs, a.AuthorID) {
			authorIDs = append(authorIDs, a.AuthorID)
		}
	}
	// TODO(repo): Preload("Author") and Preload("Tags") on the query
	// that found arts.
	authors, err := s.users.Find(ctx, repo.Where("id", repo.In, authorIDs))
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]User, len(authors))
	for _, u := range authors {
		byID[u.ID] = u
	}
	tags, err := s.tagsOf(ctx, ids)
	if err != nil {
		return nil, err
	}
	counts, err := s.favoriteCounts(ctx, ids)
	if err != nil {
		return nil, err
	}
	favorited := make([]bool, len(ids))
	following := make(map[int64]bool)
	if v, ok := viewerFrom(ctx); ok {
		if favorited, err = s.favoritedBy(ctx, v.ID, ids); err != nil {
			return nil, err
		}
		fs, err := s.followingOf(ctx, v.ID, authorIDs...)
		if err != nil {
			return nil, err
		}
		for i, id := range authorIDs {
			following[id] = fs[i]
		}
	}
	for i, a := range arts {
		out[i] = articleJSON{
			Slug: a.Slug, Title: a.Title, Description: a.Description,
			TagList:   tags[a.ID],
			CreatedAt: timeJSON(a.CreatedAt), UpdatedAt: timeJSON(a.UpdatedAt),
			Favorited: favorited[i], FavoritesCount: counts[i],
			Author: profileOf(byID[a.AuthorID], following[a.AuthorID]),
		}
		if out[i].TagList == nil {
			out[i].TagList = []string{}
		}
		if withBody {
			out[i].Body = &a.Body
		}
	}
	return out, nil
}

// tagsOf returns the tag names of each article, sorted.
func (s *server) tagsOf(ctx context.Context, ids []int64) (map[int64][]string, error) {
	links, err := s.articleTags.Find(ctx, repo.Where("article_id", repo.In, ids))
	if err != nil || len(links) == 0 {
		return nil, err
	}
	var tagIDs []int64
	for _, l := range links {
		tagIDs = append(tagIDs, l.TagID)
	}
	tags, err := s.tags.Find(ctx, repo.Where("id", repo.In, tagIDs))
	if err != nil {
		return nil, err
	}
	name := make(map[int64]string, len(tags))
	for _, t := range tags {
		name[t.ID] = t.Name
	}
	out := make(map[int64][]string)
	for _, l := range links {
		out[l.ArticleID] = append(out[l.ArticleID], name[l.TagID])
	}
	for _, ns := range out {
		slices.Sort(ns)
	}
	return out, nil
}

// favoriteCounts returns the number of favorites of each article:
// counts[i] is for ids[i].
func (s *server) favoriteCounts(ctx context.Context, ids []int64) ([]int64, error) {
	// TODO(repo): s.articles.Links("FavoritedBy").Counts(ctx, ids...)
	var rows []struct {
		ArticleID int64
		N         int64
	}
	err := s.p.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
		return db.Model(&Favorite{}).Select("article_id, COUNT(*) AS n").
			Where("article_id IN ?", ids).Group("article_id").Scan(&rows).Error
	}, pool.Idempotent())
	if err != nil {
		return nil, err
	}
	n := make(map[int64]int64, len(rows))
	for _, r := range rows {
		n[r.ArticleID] = r.N
	}
	out := make([]int64, len(ids))
	for i, id := range ids {
		out[i] = n[id]
	}
	return out, nil
}

// favoritedBy reports for each of ids whether user me favorited it.
func (s *server) favoritedBy(ctx context.Context, me int64, ids []int64) ([]bool, error) {
	// TODO(repo): s.users.Links("Favorites").Linked(ctx, me, ids...)
	rows, err := s.favorites.Find(ctx, repo.Where("user_id", repo.Eq, me).And("article_id", repo.In, ids))
	if err != nil {
		return nil, err
	}
	set := make(map[int64]bool, len(rows))
	for _, f := range rows {
		set[f.ArticleID] = true
	}
	out := make([]bool, len(ids))
	for i, id := range ids {
		out[i] = set[id]
	}
	return out, nil
}
