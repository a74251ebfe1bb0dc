CREATE TABLE "rollout_target_counts" (
	"rollout_id" uuid NOT NULL,
	"state" "rollout_target_state" NOT NULL,
	"n" integer NOT NULL,
	CONSTRAINT "rollout_target_counts_rollout_id_state_pk" PRIMARY KEY("rollout_id","state")
);
--> statement-breakpoint
ALTER TABLE "rollout_target_counts" ADD CONSTRAINT "rollout_target_counts_rollout_id_rollouts_id_fk" FOREIGN KEY ("rollout_id") REFERENCES "public"."rollouts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
-- Kept by the statements that change rollout_targets, in their transaction (issue 15: a wave's look
-- counted every target of its rollout ten times a second). A rollout's first targets create a row
-- for every state, so later changes only update rows, locked in (rollout, state) order: two
-- statements moving targets between the same states wait in turn, never crosswise.
CREATE FUNCTION rollout_target_counts_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO rollout_target_counts AS c (rollout_id, state, n)
    SELECT r.rollout_id, s.state, coalesce(g.n, 0)
    FROM (SELECT DISTINCT rollout_id FROM new_rows) r
    CROSS JOIN unnest(enum_range(NULL::rollout_target_state)) AS s(state)
    LEFT JOIN (SELECT rollout_id, state, count(*)::int AS n FROM new_rows GROUP BY rollout_id, state) g
      USING (rollout_id, state)
    ORDER BY r.rollout_id, s.state
    ON CONFLICT (rollout_id, state) DO UPDATE SET n = c.n + excluded.n;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO rollout_target_counts AS c (rollout_id, state, n)
    SELECT rollout_id, state, sum(d)::int
    FROM (SELECT rollout_id, state, 1 AS d FROM new_rows
          UNION ALL SELECT rollout_id, state, -1 FROM old_rows) x
    GROUP BY rollout_id, state HAVING sum(d) <> 0
    ORDER BY rollout_id, state
    ON CONFLICT (rollout_id, state) DO UPDATE SET n = c.n + excluded.n;
  ELSE
    -- A rollout deleted with its targets takes its counts along: nothing to keep for it.
    INSERT INTO rollout_target_counts AS c (rollout_id, state, n)
    SELECT o.rollout_id, o.state, -count(*)::int FROM old_rows o
    WHERE EXISTS (SELECT 1 FROM rollouts r WHERE r.id = o.rollout_id)
    GROUP BY o.rollout_id, o.state
    ORDER BY o.rollout_id, o.state
    ON CONFLICT (rollout_id, state) DO UPDATE SET n = c.n + excluded.n;
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
-- No change to the targets slips between the count below and the triggers.
LOCK TABLE rollout_targets IN SHARE ROW EXCLUSIVE MODE;
--> statement-breakpoint
CREATE TRIGGER rollout_target_counts_on_insert AFTER INSERT ON rollout_targets
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollout_target_counts_follow();
--> statement-breakpoint
CREATE TRIGGER rollout_target_counts_on_update AFTER UPDATE ON rollout_targets
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollout_target_counts_follow();
--> statement-breakpoint
CREATE TRIGGER rollout_target_counts_on_delete AFTER DELETE ON rollout_targets
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION rollout_target_counts_follow();
--> statement-breakpoint
INSERT INTO rollout_target_counts (rollout_id, state, n)
SELECT r.rollout_id, s.state, coalesce(g.n, 0)
FROM (SELECT DISTINCT rollout_id FROM rollout_targets) r
CROSS JOIN unnest(enum_range(NULL::rollout_target_state)) AS s(state)
LEFT JOIN (SELECT rollout_id, state, count(*)::int AS n FROM rollout_targets GROUP BY rollout_id, state) g
  USING (rollout_id, state);
