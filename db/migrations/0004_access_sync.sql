CREATE TABLE "iq_access_changes" (
	"iq_id" uuid NOT NULL,
	"version" integer NOT NULL,
	"full_list" boolean DEFAULT false NOT NULL,
	"grants" jsonb NOT NULL,
	"revokes" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "iq_access_changes_iq_id_version_pk" PRIMARY KEY("iq_id","version")
);
--> statement-breakpoint
CREATE TABLE "iq_access_entries" (
	"iq_id" uuid NOT NULL,
	"credential_id" uuid NOT NULL,
	"member_id" uuid NOT NULL,
	"entry" jsonb NOT NULL,
	CONSTRAINT "iq_access_entries_iq_id_credential_id_pk" PRIMARY KEY("iq_id","credential_id")
);
--> statement-breakpoint
ALTER TABLE "access_methods" DROP CONSTRAINT "access_methods_profile_id_profiles_id_fk";
--> statement-breakpoint
ALTER TABLE "access_methods" ALTER COLUMN "profile_id" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "access_methods" ADD COLUMN "device_pin_hash" text;--> statement-breakpoint
ALTER TABLE "events" ADD COLUMN "device_event_id" text;--> statement-breakpoint
ALTER TABLE "iqs" ADD COLUMN "access_version" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "iqs" ADD COLUMN "access_acked" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "iq_access_changes" ADD CONSTRAINT "iq_access_changes_iq_id_iqs_id_fk" FOREIGN KEY ("iq_id") REFERENCES "public"."iqs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "iq_access_entries" ADD CONSTRAINT "iq_access_entries_iq_id_iqs_id_fk" FOREIGN KEY ("iq_id") REFERENCES "public"."iqs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "iq_access_entries_member_idx" ON "iq_access_entries" USING btree ("member_id");--> statement-breakpoint
ALTER TABLE "access_methods" ADD CONSTRAINT "access_methods_profile_id_profiles_id_fk" FOREIGN KEY ("profile_id") REFERENCES "public"."profiles"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "events_device_event_key" ON "events" USING btree ("iq_id","device_event_id") WHERE "events"."device_event_id" is not null;--> statement-breakpoint
CREATE INDEX "iqs_access_behind_idx" ON "iqs" USING btree ("gateway_instance") WHERE "iqs"."access_acked" < "iqs"."access_version";