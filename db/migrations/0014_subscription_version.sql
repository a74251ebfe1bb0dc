-- The API claims redemptions and the relay tells the site's workflow (issue 15): the version orders
-- what the workflow adopts; the announcement carries what it is told.
ALTER TABLE "sites" ADD COLUMN "subscription_version" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "redemption_announcements" ADD COLUMN "workflow_signal" jsonb;