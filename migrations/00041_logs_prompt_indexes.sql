-- +goose NO TRANSACTION
-- +goose Up
-- The logs page's prompt filter and the dashboard's usage per prompt. Partial
-- indexes: requests without a prompt cost nothing to insert. Built
-- CONCURRENTLY, as the log table may be large and settlements must keep
-- inserting while the build scans it.
CREATE INDEX CONCURRENTLY IF NOT EXISTS logs_prompt_name_id_idx ON logs (prompt_name, id) WHERE prompt_name <> '';
CREATE INDEX CONCURRENTLY IF NOT EXISTS logs_prompt_created_at_idx ON logs (created_at) WHERE prompt_name <> '';

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS logs_prompt_created_at_idx;
DROP INDEX CONCURRENTLY IF EXISTS logs_prompt_name_id_idx;
