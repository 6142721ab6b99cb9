CREATE TABLE "we;ird" ("col;1" int, "quote""d" text);
SELECT "col;1" FROM "we;ird";
