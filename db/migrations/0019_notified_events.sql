-- K6, N3: the email that told the owner of each event, claimed with it in one transaction, so an event
-- the relay hands over again is in no other email (db/schema/delivery.ts).
CREATE TABLE "notified_events" (
	"event_id" uuid PRIMARY KEY NOT NULL,
	"email_key" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "notified_events" ADD CONSTRAINT "notified_events_event_id_events_id_fk" FOREIGN KEY ("event_id") REFERENCES "public"."events"("id") ON DELETE cascade ON UPDATE no action;