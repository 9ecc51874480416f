package main

import "time"

// The GORM models. Tables are prefixed conduit_ so that the example can
// share a database with others; the schema itself is in schema/, applied
// by package migrations (GORM's AutoMigrate is never run).
//
// The relation fields (Author, Tags, FavoritedBy, Following, ...) are
// what package repo resolves association names against; the handlers
// never fill them in to write, so GORM never saves associations.

// User is an account. PasswordHash is a bcrypt hash; it never leaves the
// server.
type User struct {
	ID           int64
	Username     string
	Email        string
	PasswordHash string
	Bio          string
	Image        *string
	CreatedAt    time.Time
	UpdatedAt    time.Time

	// Following are the users this one follows, Followers those who
	// follow it: the two directions of conduit_follows.
	Following []User `gorm:"many2many:conduit_follows;joinForeignKey:FollowerID;joinReferences:FolloweeID"`
	Followers []User `gorm:"many2many:conduit_follows;joinForeignKey:FolloweeID;joinReferences:FollowerID"`
	// Favorites are the articles this user favorited (conduit_favorites).
	Favorites []Article `gorm:"many2many:conduit_favorites;joinForeignKey:UserID;joinReferences:ArticleID"`
}

// TableName is the users table.
func (User) TableName() string { return "conduit_users" }

// Article is a post. Its slug is derived from the title and made unique
// with a random suffix.
type Article struct {
	ID          int64
	Slug        string
	Title       string
	Description string
	Body        string
	AuthorID    int64
	CreatedAt   time.Time
	UpdatedAt   time.Time

	Author      User   `gorm:"foreignKey:AuthorID"`
	Tags        []Tag  `gorm:"many2many:conduit_article_tags;joinForeignKey:ArticleID;joinReferences:TagID"`
	FavoritedBy []User `gorm:"many2many:conduit_favorites;joinForeignKey:ArticleID;joinReferences:UserID"`
}

// TableName is the articles table.
func (Article) TableName() string { return "conduit_articles" }

// Tag is a tag name, shared by the articles that carry it.
type Tag struct {
	ID   int64
	Name string
}

// TableName is the tags table.
func (Tag) TableName() string { return "conduit_tags" }

// Comment is a comment on an article.
type Comment struct {
	ID        int64
	Body      string
	ArticleID int64
	AuthorID  int64
	CreatedAt time.Time
	UpdatedAt time.Time

	Author User `gorm:"foreignKey:AuthorID"`
}

// TableName is the comments table.
func (Comment) TableName() string { return "conduit_comments" }
