CREATE TABLE "gateway_instances" (
	"id" text PRIMARY KEY NOT NULL,
	"command_url" text NOT NULL,
	"heartbeat_at" timestamp with time zone DEFAULT now() NOT NULL
);
