-- name: OptionList :many
SELECT key, value FROM options ORDER BY key;

-- name: OptionUpsert :exec
INSERT INTO options (key, value) VALUES ($1, $2)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now();
