CREATE TABLE "dataset_file_parts" (
	"workflow_id" text NOT NULL,
	"idx" integer NOT NULL,
	"part" integer NOT NULL,
	"content" "bytea" NOT NULL,
	CONSTRAINT "dataset_file_parts_workflow_id_idx_part_pk" PRIMARY KEY("workflow_id","idx","part")
);
--> statement-breakpoint
ALTER TABLE "dataset_files" ALTER COLUMN "content" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "dataset_file_parts" ADD CONSTRAINT "dataset_file_parts_workflow_id_workflows_id_fk" FOREIGN KEY ("workflow_id") REFERENCES "public"."workflows"("id") ON DELETE cascade ON UPDATE no action;