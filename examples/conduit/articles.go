package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"unicode"

	"github.com/tollgate-db/tollgate/repo"
)

// Limits of the article fields.
const (
	maxTitleBytes       = 255
	maxDescriptionBytes = 4 << 10
	maxArticleBytes     = 200 << 10
	maxTagBytes         = 64
	maxTags             = 20
	maxSlugBase         = 80
)

type articleEnvelope struct {
	Article articleJSON `json:"article"`
}

type articleRequest struct {
	Article struct {
		Title       *string  `json:"title"`
		Description *string  `json:"description"`
		Body        *string  `json:"body"`
		TagList     []string `json:"tagList"`
	} `json:"article"`
}

// slugify makes the readable part of a slug from a title: lower-case
// letters and digits, runs of anything else as one '-'.
func slugify(title string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(title) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			if b.Len()+len(string(r)) > maxSlugBase {
				break
			}
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	if b.Len() == 0 {
		return "article"
	}
	return b.String()
}

// newSlug is slugify(title) plus a random suffix, so that two articles
// with one title get different slugs without a read first.
func newSlug(title string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return slugify(title) + "-" + hex.EncodeToString(b[:])
}

// tagList validates, trims and de-duplicates tag names, in the order given.
func (p *problems) tagList(in []string) []string {
	var out []string
	for _, t := range in {
		t = strings.TrimSpace(t)
		switch {
		case t == "":
			p.add("tagList must not hold empty tags")
			return nil
		case len(t) > maxTagBytes:
			p.add("a tag is at most 64 bytes")
			return nil
		}
		p.text("tag", t, maxTagBytes)
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	if len(out) > maxTags {
		p.add("at most 20 tags")
	}
	return out
}

// createArticle: POST /api/articles.
func (s *server) createArticle(w http.ResponseWriter, r *http.Request) {
	v, _ := viewerFrom(r.Context())
	var req articleRequest
	if !decode(w, r, &req) {
		return
	}
	in := req.Article
	var p problems
	title, desc, body := deref(in.Title), deref(in.Description), deref(in.Body)
	title = strings.TrimSpace(title)
	for _, f := range []struct {
		name, v string
		max     int
	}{{"title", title, maxTitleBytes}, {"description", desc, maxDescriptionBytes}, {"body", body, maxArticleBytes}} {
		if strings.TrimSpace(f.v) == "" {
			p.add(f.name + " can't be blank")
			continue
		}
		p.text(f.name, f.v, f.max)
	}
	tags := p.tagList(in.TagList)
	if p.answered(w) {
		return
	}
	a := Article{Slug: newSlug(title), Title: title, Description: desc, Body: body, AuthorID: v.ID}
	// One transaction: the article is never seen without its tags.
	err := s.p.Transaction(r.Context(), func(ctx context.Context) error {
		if err := s.articles.Create(ctx, &a); err != nil {
			return err
		}
		return s.tagArticle(ctx, a.ID, tags)
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.answerArticle(w, r, http.StatusCreated, a.ID)
}

// tagArticle links article id to the tags with these names, creating the
// tags that do not exist yet.
func (s *server) tagArticle(ctx context.Context, id int64, names []string) error {
	if len(names) == 0 {
		return nil
	}
	ids, err := s.tagIDs(ctx, names)
	if err != nil {
		return err
	}
	return s.articleTags.Add(ctx, id, ids...)
}

// tagIDs returns the ids of the tags with these names, creating those
// that do not exist yet.
func (s *server) tagIDs(ctx context.Context, names []string) ([]any, error) {
	if len(names) == 0 {
		return nil, nil
	}
	rows := make([]Tag, len(names))
	for i, n := range names {
		rows[i] = Tag{Name: n}
	}
	// Only the conflict column as update column: ON CONFLICT DO NOTHING.
	if err := s.tags.Upsert(ctx, rows, []string{"name"}, "name"); err != nil {
		return nil, err
	}
	tags, err := s.tags.Find(ctx, repo.Where("name", repo.In, names).Select("id"))
	if err != nil {
		return nil, err
	}
	ids := make([]any, len(tags))
	for i, t := range tags {
		ids[i] = t.ID
	}
	return ids, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// articleBySlug finds the article of the path's {slug}; an unknown slug
// is answered 404 and reported false.
func (s *server) articleBySlug(w http.ResponseWriter, r *http.Request) (Article, bool) {
	a, err := s.findArticle(r.Context(), r.PathValue("slug"))
	if err != nil {
		s.fail(w, r, err)
		return Article{}, false
	}
	return a, true
}

// findArticle returns the article with this slug, its author and tags
// loaded, or repo.ErrNotFound.
func (s *server) findArticle(ctx context.Context, slug string) (Article, error) {
	return s.articles.First(ctx, withAuthorAndTags(repo.Where("slug", repo.Eq, slug)))
}

// withAuthorAndTags is q loading what an article's JSON shows besides its
// own columns: the author and the tags, sorted by name.
func withAuthorAndTags(q repo.Query) repo.Query {
	return q.Preload("Author").PreloadWith("Tags", repo.All().OrderBy("name", repo.Asc))
}

// ownArticle is articleBySlug for the article's author only: others get 403.
func (s *server) ownArticle(w http.ResponseWriter, r *http.Request) (Article, bool) {
	a, ok := s.articleBySlug(w, r)
	if !ok {
		return a, false
	}
	if v, _ := viewerFrom(r.Context()); v.ID != a.AuthorID {
		writeErrors(w, http.StatusForbidden, "only the author may change this article")
		return a, false
	}
	return a, true
}

// snapshot runs fn in one transaction, so that the calls fn makes with
// its ctx take one pool slot, one trip through the executor's queue,
// instead of one each (a busy queue makes every trip as long as the
// queue). It is PostgreSQL's default READ COMMITTED: each statement sees
// what was committed when it began, so a page and its count may differ
// by a write that lands between them. fn must not write the response:
// the transaction may still fail at COMMIT.
func (s *server) snapshot(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.p.Transaction(ctx, fn)
}

// answerArticle writes the article with this id, as the request's
// caller sees it.
func (s *server) answerArticle(w http.ResponseWriter, r *http.Request, code int, id int64) {
	var view []articleJSON
	err := s.snapshot(r.Context(), func(ctx context.Context) error {
		a, err := s.articles.First(ctx, withAuthorAndTags(repo.Where("id", repo.Eq, id)))
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
	writeJSON(w, code, articleEnvelope{view[0]})
}

// getArticle: GET /api/articles/{slug}.
func (s *server) getArticle(w http.ResponseWriter, r *http.Request) {
	var view []articleJSON
	err := s.snapshot(r.Context(), func(ctx context.Context) error {
		a, err := s.findArticle(ctx, r.PathValue("slug"))
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

// updateArticle: PUT /api/articles/{slug}. Only the fields present
// change; a new title makes a new slug; a tagList (beyond the spec)
// replaces the tags, [] removes them all.
func (s *server) updateArticle(w http.ResponseWriter, r *http.Request) {
	var req articleRequest
	if !decode(w, r, &req) {
		return
	}
	a, ok := s.ownArticle(w, r)
	if !ok {
		return
	}
	in := req.Article
	set := map[string]any{}
	var p problems
	if in.Title != nil {
		t := strings.TrimSpace(*in.Title)
		if t == "" {
			p.add("title can't be blank")
		}
		p.text("title", t, maxTitleBytes)
		if t != a.Title {
			set["title"], set["slug"] = t, newSlug(t)
		}
	}
	if in.Description != nil {
		if strings.TrimSpace(*in.Description) == "" {
			p.add("description can't be blank")
		}
		p.text("description", *in.Description, maxDescriptionBytes)
		set["description"] = *in.Description
	}
	if in.Body != nil {
		if strings.TrimSpace(*in.Body) == "" {
			p.add("body can't be blank")
		}
		p.text("body", *in.Body, maxArticleBytes)
		set["body"] = *in.Body
	}
	tags := p.tagList(in.TagList)
	if p.answered(w) {
		return
	}
	err := s.p.Transaction(r.Context(), func(ctx context.Context) error {
		if err := s.articles.UpdateFields(ctx, a.ID, set); err != nil || in.TagList == nil {
			return err
		}
		ids, err := s.tagIDs(ctx, tags)
		if err != nil {
			return err
		}
		return s.articleTags.Replace(ctx, a.ID, ids...)
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.answerArticle(w, r, http.StatusOK, a.ID)
}

// deleteArticle: DELETE /api/articles/{slug}. Its comments, favorites and
// tag links go with it (ON DELETE CASCADE).
func (s *server) deleteArticle(w http.ResponseWriter, r *http.Request) {
	a, ok := s.ownArticle(w, r)
	if !ok {
		return
	}
	if err := s.articles.Delete(r.Context(), a.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
