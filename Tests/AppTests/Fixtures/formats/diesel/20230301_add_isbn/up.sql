-- Your SQL goes here
-- Version 20230301 sorts after 20230217084617 as text, as Diesel compares versions (as numbers it
-- would come first, before the books table exists).
ALTER TABLE books ADD COLUMN isbn VARCHAR;
