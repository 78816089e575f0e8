CREATE TABLE "upload_parts" (
	"upload_id" text NOT NULL,
	"part" integer NOT NULL,
	"content" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "upload_parts_upload_id_part_pk" PRIMARY KEY("upload_id","part")
);
--> statement-breakpoint
ALTER TABLE "dataset_files" ADD COLUMN "upload_id" text;--> statement-breakpoint
CREATE INDEX "upload_parts_created_idx" ON "upload_parts" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "dataset_files_upload_idx" ON "dataset_files" USING btree ("upload_id");