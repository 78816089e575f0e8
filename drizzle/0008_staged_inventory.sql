CREATE TABLE "staged_assets" (
	"workflow_id" text NOT NULL,
	"seq" integer NOT NULL,
	"asset_key" text NOT NULL,
	"name" text,
	"asset_type" text NOT NULL,
	"asset_subtype" text,
	"environment" text,
	"os_family" text,
	"application" text,
	"data" text NOT NULL,
	"content_hash" text NOT NULL,
	CONSTRAINT "staged_assets_workflow_id_seq_pk" PRIMARY KEY("workflow_id","seq")
);
--> statement-breakpoint
CREATE TABLE "staged_dependencies" (
	"workflow_id" text NOT NULL,
	"seq" integer NOT NULL,
	"edge_key" text NOT NULL,
	"source_key" text NOT NULL,
	"target_key" text NOT NULL,
	"type" text NOT NULL,
	"origin" text NOT NULL,
	"port" integer,
	"count" integer NOT NULL,
	"data" text NOT NULL,
	"content_hash" text NOT NULL,
	CONSTRAINT "staged_dependencies_workflow_id_seq_pk" PRIMARY KEY("workflow_id","seq")
);
--> statement-breakpoint
ALTER TABLE "staged_assets" ADD CONSTRAINT "staged_assets_workflow_id_workflows_id_fk" FOREIGN KEY ("workflow_id") REFERENCES "public"."workflows"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "staged_dependencies" ADD CONSTRAINT "staged_dependencies_workflow_id_workflows_id_fk" FOREIGN KEY ("workflow_id") REFERENCES "public"."workflows"("id") ON DELETE cascade ON UPDATE no action;