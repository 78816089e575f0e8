-- The staging tables are analysed after every COPY, only for their row count and the two key
-- columns the reads and deletes use: a small sample is enough (0.27 s of PGlite's one connection
-- at 300,000 rows with the default of 100).
ALTER TABLE "staged_assets" ALTER COLUMN "workflow_id" SET STATISTICS 10, ALTER COLUMN "seq" SET STATISTICS 10;--> statement-breakpoint
ALTER TABLE "staged_dependencies" ALTER COLUMN "workflow_id" SET STATISTICS 10, ALTER COLUMN "seq" SET STATISTICS 10;
