CREATE TABLE "rollout_status_changes" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "rollout_status_changes_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"rollout_id" uuid NOT NULL,
	"status" "rollout_status" NOT NULL,
	"reason" text,
	"updates_started" integer NOT NULL,
	"at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "rollout_status_changes" ADD CONSTRAINT "rollout_status_changes_rollout_id_rollouts_id_fk" FOREIGN KEY ("rollout_id") REFERENCES "public"."rollouts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "rollout_status_changes_rollout_idx" ON "rollout_status_changes" USING btree ("rollout_id","id");