package main

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"oneapi/keys"
	"oneapi/queries"
)

// Roles and statuses, One API's numbers.
const (
	roleRoot      = 100
	statusEnabled = 1
	// rootQuota is what One API gives root on first start.
	rootQuota = 500_000_000_000_000
)

// bootstrap creates the root user on the first start (empty users table),
// with One API's default password, and the initial tokens the environment
// asks for. It does nothing on later starts, so it is safe on every node.
func bootstrap(ctx context.Context, q *queries.Queries, pool *pgxpool.Pool, cfg config, log *slog.Logger) error {
	n, err := q.UserCount(ctx)
	if err != nil || n > 0 {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("123456"), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	err = queries.InTx(ctx, pool, func(q *queries.Queries) error {
		root, err := q.UserCreate(ctx, queries.UserCreateParams{
			Username: "root", PasswordHash: string(hash), MustChangePassword: true,
			DisplayName: "Root User", Role: roleRoot, Status: statusEnabled,
			GroupName: "default", Quota: rootQuota,
		})
		if err != nil {
			return err
		}
		log.Warn("created user root with the default password 123456: sign in and change it now")
		if cfg.InitialRootAccessToken != "" {
			if err := q.UserSetAccessToken(ctx, queries.UserSetAccessTokenParams{
				ID: root.ID, AccessTokenHash: keys.Hash(cfg.InitialRootAccessToken),
				AccessTokenPrefix: keys.Prefix(cfg.InitialRootAccessToken),
			}); err != nil {
				return err
			}
		}
		if cfg.InitialRootToken != "" {
			if _, err := q.TokenCreate(ctx, queries.TokenCreateParams{
				UserID: root.ID, Name: "Initial Root Token",
				KeyHash: keys.Hash(cfg.InitialRootToken), KeyPrefix: keys.Prefix(cfg.InitialRootToken),
				Status: statusEnabled, UnlimitedQuota: true,
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if queries.IsUniqueViolation(err) {
		return nil // another node created root first: its transaction won
	}
	return err
}
