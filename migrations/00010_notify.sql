-- +goose Up
-- Every change to what nodes cache in memory is announced on the channel
-- config_changed as {"kind":..., "id":...}; each node's listener reloads that
-- row. Triggers (not application code) send it, so a manual psql edit
-- propagates too, and NOTIFY is delivered only when the transaction commits.
-- Quota counters are left out: balances are never cached.
-- +goose StatementBegin
CREATE FUNCTION notify_config_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    row_id text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        row_id := to_jsonb(OLD) ->> TG_ARGV[1];
    ELSE
        row_id := to_jsonb(NEW) ->> TG_ARGV[1];
    END IF;
    PERFORM pg_notify('config_changed', json_build_object('kind', TG_ARGV[0], 'id', row_id)::text);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER tokens_notify AFTER INSERT OR DELETE OR UPDATE OF
    user_id, name, key_hash, status, expires_at, unlimited_quota, models, subnet
    ON tokens FOR EACH ROW EXECUTE FUNCTION notify_config_changed('tokens', 'id');

CREATE TRIGGER users_notify AFTER INSERT OR DELETE OR UPDATE OF
    username, role, status, group_name, deleted_at
    ON users FOR EACH ROW EXECUTE FUNCTION notify_config_changed('users', 'id');

CREATE TRIGGER channels_notify AFTER INSERT OR DELETE OR UPDATE OF
    type, name, key_ciphertext, base_url, models, model_mapping, groups, priority, weight, status, config, system_prompt, test_model
    ON channels FOR EACH ROW EXECUTE FUNCTION notify_config_changed('channels', 'id');

CREATE TRIGGER options_notify AFTER INSERT OR DELETE OR UPDATE
    ON options FOR EACH ROW EXECUTE FUNCTION notify_config_changed('options', 'key');

-- +goose Down
DROP TRIGGER options_notify ON options;
DROP TRIGGER channels_notify ON channels;
DROP TRIGGER users_notify ON users;
DROP TRIGGER tokens_notify ON tokens;
DROP FUNCTION notify_config_changed;
