-- This file should undo anything in `up.sql`
ALTER TABLE books DROP COLUMN isbn;
