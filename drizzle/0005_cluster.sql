CREATE TABLE "instances" (
	"id" text PRIMARY KEY NOT NULL,
	"url" text,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"heartbeat_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "workflow_inbox" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "workflow_inbox_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"workflow_id" text NOT NULL,
	"event" jsonb NOT NULL,
	"correlation_id" text,
	"actor" text,
	"from_instance" text NOT NULL,
	"state" text DEFAULT 'pending' NOT NULL,
	"taken_by" text,
	"outcome_status" integer,
	"outcome" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"done_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "workflow_inbox" ADD CONSTRAINT "workflow_inbox_workflow_id_workflows_id_fk" FOREIGN KEY ("workflow_id") REFERENCES "public"."workflows"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "workflow_inbox_workflow_idx" ON "workflow_inbox" USING btree ("workflow_id","id");--> statement-breakpoint
CREATE INDEX "workflow_inbox_created_idx" ON "workflow_inbox" USING btree ("created_at");