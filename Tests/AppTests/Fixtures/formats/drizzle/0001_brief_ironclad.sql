CREATE TABLE "posts" (
	"id" integer PRIMARY KEY NOT NULL,
	"author_id" integer REFERENCES "users"("id"),
	"body" text
);
--> statement-breakpoint
INSERT INTO "users" ("id", "name", "email") VALUES (1, 'Dan; the first', 'dan@example.com');