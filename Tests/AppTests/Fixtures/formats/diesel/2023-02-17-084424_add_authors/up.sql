-- Your SQL goes here
CREATE TABLE authors (
  id INTEGER NOT NULL PRIMARY KEY,
  name VARCHAR NOT NULL
);
