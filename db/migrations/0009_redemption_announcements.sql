CREATE TABLE "redemption_announcements" (
	"term_id" uuid PRIMARY KEY NOT NULL,
	"site_id" uuid NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "redemption_announcements" ADD CONSTRAINT "redemption_announcements_term_id_subscription_terms_id_fk" FOREIGN KEY ("term_id") REFERENCES "public"."subscription_terms"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "redemption_announcements_created_idx" ON "redemption_announcements" USING btree ("created_at");