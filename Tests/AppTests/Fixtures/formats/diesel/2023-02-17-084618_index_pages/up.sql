-- Your SQL goes here
CREATE INDEX pages_book_id ON pages (book_id);
