-- This file should undo anything in `up.sql`
DROP INDEX pages_book_id;
