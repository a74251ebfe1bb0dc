-- An event as the API answers it (API.md's Event) as JSON text, for events.api_json (issue 15).
-- Immutable: to_char's pattern here has no locale-dependent part, and the time zone is fixed.
-- Adding the stored column rewrites events under an exclusive lock: on a large audit trail, run it
-- in a maintenance window.
CREATE FUNCTION event_api_json(
  id uuid, at timestamptz, type text, actor_kind text, actor_profile_id uuid,
  subject_profile_id uuid, lock_id uuid, iq_id uuid, data jsonb
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN '{"id":' || coalesce('"' || id || '"', 'null')
  || ',"at":' || coalesce('"' || to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '"', 'null')
  || ',"type":' || coalesce(to_json(type)::text, 'null')
  || ',"actor":{"kind":' || coalesce(to_json(actor_kind)::text, 'null')
  || ',"profileId":' || coalesce('"' || actor_profile_id || '"', 'null') || '}'
  || ',"subjectProfileId":' || coalesce('"' || subject_profile_id || '"', 'null')
  || ',"lockId":' || coalesce('"' || lock_id || '"', 'null')
  || ',"iqId":' || coalesce('"' || iq_id || '"', 'null')
  || ',"data":' || coalesce(data::text, 'null')
  || '}';--> statement-breakpoint
ALTER TABLE "events" ADD COLUMN "api_json" text GENERATED ALWAYS AS (event_api_json(id, at, type, actor_kind, actor_profile_id, subject_profile_id, lock_id, iq_id, data)) STORED NOT NULL;