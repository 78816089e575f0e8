ALTER TABLE "artifacts" ALTER COLUMN "data" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "artifacts" ADD COLUMN "body" "bytea";--> statement-breakpoint
ALTER TABLE "artifacts" ADD COLUMN "version" integer DEFAULT 1 NOT NULL;