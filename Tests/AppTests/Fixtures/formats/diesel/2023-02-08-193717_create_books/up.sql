-- Your SQL goes here
CREATE TABLE books (
  id INTEGER NOT NULL PRIMARY KEY,
  title VARCHAR NOT NULL
);
