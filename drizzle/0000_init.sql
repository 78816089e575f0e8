CREATE TABLE "artifacts" (
	"workflow_id" text NOT NULL,
	"key" text NOT NULL,
	"data" jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "artifacts_workflow_id_key_pk" PRIMARY KEY("workflow_id","key")
);
--> statement-breakpoint
CREATE TABLE "assets" (
	"workflow_id" text NOT NULL,
	"asset_key" text NOT NULL,
	"name" text,
	"asset_type" text NOT NULL,
	"asset_subtype" text,
	"environment" text,
	"os_family" text,
	"application" text,
	"data" jsonb NOT NULL,
	"content_hash" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "assets_workflow_id_asset_key_pk" PRIMARY KEY("workflow_id","asset_key")
);
--> statement-breakpoint
CREATE TABLE "dataset_files" (
	"workflow_id" text NOT NULL,
	"idx" integer NOT NULL,
	"name" text NOT NULL,
	"format" text,
	"size_bytes" bigint NOT NULL,
	"content" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "dataset_files_workflow_id_idx_pk" PRIMARY KEY("workflow_id","idx")
);
--> statement-breakpoint
CREATE TABLE "dependencies" (
	"workflow_id" text NOT NULL,
	"edge_key" text NOT NULL,
	"source_key" text NOT NULL,
	"target_key" text NOT NULL,
	"type" text NOT NULL,
	"origin" text NOT NULL,
	"port" integer,
	"count" integer NOT NULL,
	"data" jsonb NOT NULL,
	"content_hash" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "dependencies_workflow_id_edge_key_pk" PRIMARY KEY("workflow_id","edge_key")
);
--> statement-breakpoint
CREATE TABLE "step_runs" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "step_runs_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"workflow_id" text NOT NULL,
	"phase" text NOT NULL,
	"attempt" integer NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"ended_at" timestamp with time zone,
	"duration_ms" integer,
	"outcome" text NOT NULL,
	"error" jsonb
);
--> statement-breakpoint
CREATE TABLE "workflow_transitions" (
	"workflow_id" text NOT NULL,
	"seq" integer NOT NULL,
	"event_type" text NOT NULL,
	"event" jsonb NOT NULL,
	"from_phase" text,
	"to_phase" text NOT NULL,
	"value" jsonb NOT NULL,
	"status" text NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"duration_ms" integer,
	"correlation_id" text,
	"actor" text,
	CONSTRAINT "workflow_transitions_workflow_id_seq_pk" PRIMARY KEY("workflow_id","seq")
);
--> statement-breakpoint
CREATE TABLE "workflows" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"phase" text NOT NULL,
	"status" text NOT NULL,
	"snapshot" jsonb NOT NULL,
	"machine_version" integer NOT NULL,
	"version" integer NOT NULL,
	"correlation_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "artifacts" ADD CONSTRAINT "artifacts_workflow_id_workflows_id_fk" FOREIGN KEY ("workflow_id") REFERENCES "public"."workflows"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "assets" ADD CONSTRAINT "assets_workflow_id_workflows_id_fk" FOREIGN KEY ("workflow_id") REFERENCES "public"."workflows"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "dataset_files" ADD CONSTRAINT "dataset_files_workflow_id_workflows_id_fk" FOREIGN KEY ("workflow_id") REFERENCES "public"."workflows"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "dependencies" ADD CONSTRAINT "dependencies_workflow_id_workflows_id_fk" FOREIGN KEY ("workflow_id") REFERENCES "public"."workflows"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "step_runs" ADD CONSTRAINT "step_runs_workflow_id_workflows_id_fk" FOREIGN KEY ("workflow_id") REFERENCES "public"."workflows"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "workflow_transitions" ADD CONSTRAINT "workflow_transitions_workflow_id_workflows_id_fk" FOREIGN KEY ("workflow_id") REFERENCES "public"."workflows"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "assets_type_idx" ON "assets" USING btree ("workflow_id","asset_type");--> statement-breakpoint
CREATE INDEX "step_runs_workflow_idx" ON "step_runs" USING btree ("workflow_id","id");--> statement-breakpoint
CREATE INDEX "step_runs_started_idx" ON "step_runs" USING btree ("started_at");--> statement-breakpoint
CREATE INDEX "workflows_created_idx" ON "workflows" USING btree ("created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "workflows_status_idx" ON "workflows" USING btree ("status");