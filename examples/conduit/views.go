package main

import (
	"context"
	"slices"
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

// views turns articles, loaded with their Author and Tags (see
// withAuthorAndTags), into what the request's caller sees: whether the
// caller follows each author, the favorite counts and whether the caller
// favorited each. It costs three statements however many articles there
// are (no N+1): one grouped count, and two batch membership checks for a
// signed-in caller.
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
	counts, err := s.favoritedBy.Counts(ctx, anys(ids)...)
	if err != nil {
		return nil, err
	}
	favorited := make([]bool, len(ids))
	following := make(map[int64]bool)
	if v, ok := viewerFrom(ctx); ok {
		if favorited, err = s.favorites.Linked(ctx, v.ID, anys(ids)...); err != nil {
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
		tags := make([]string, len(a.Tags))
		for j, t := range a.Tags {
			tags[j] = t.Name
		}
		out[i] = articleJSON{
			Slug: a.Slug, Title: a.Title, Description: a.Description,
			TagList:   tags,
			CreatedAt: timeJSON(a.CreatedAt), UpdatedAt: timeJSON(a.UpdatedAt),
			Favorited: favorited[i], FavoritesCount: counts[i],
			Author: profileOf(a.Author, following[a.AuthorID]),
		}
		if withBody {
			out[i].Body = &a.Body
		}
	}
	return out, nil
}
